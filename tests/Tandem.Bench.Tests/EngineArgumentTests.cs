using Tandem.Engine.Tests;

namespace Tandem.Bench.Tests;

/// <summary>
/// <c>Tandem.Bench engine</c> with zero tokens to prefill or decode is refused up front: every rate in its report divides
/// by them, and a <c>--tg 0</c> run once reached the JSON writer with a NaN decode rate and crashed after the timing.
/// </summary>
public sealed class EngineArgumentTests
{
    [Theory]
    [InlineData("--tg", "0")]
    [InlineData("--pp", "0")]
    public async Task Zero_tokens_are_refused_with_the_option_named(string option, string value)
    {
        var (exit, stdout, stderr) = await BenchProcess.RunAsync("engine", TestPaths.Model("stories260K.gguf"), "--no-bundle", option, value);
        Assert.Equal(2, exit);
        Assert.Contains("--pp, --tg and --reps must be at least 1", stderr);
        Assert.DoesNotContain("| model |", stdout); // nothing was timed
    }
}
