namespace Tandem.Bench.Tests;

/// <summary>
/// <c>Tandem.Bench kernels --types</c> with a type it has no kernel for (Q6_K, or a typo) is refused with one line naming
/// the types it has, before anything is timed; it used to end in an unhandled exception's stack trace.
/// </summary>
public sealed class KernelArgumentTests
{
    [Theory]
    [InlineData("q6_k")]
    [InlineData("q8_O")]
    public async Task An_unknown_type_is_refused_with_the_known_ones_named(string type)
    {
        var (exit, stdout, stderr) = await BenchProcess.RunAsync("kernels", "--types", $"q4_k,{type}", "--rows", "256", "--cols", "256", "--batch", "1");
        Assert.Equal(2, exit);
        Assert.Contains($"--types: {type} is not one of F16, Q8_0", stderr);
        Assert.DoesNotContain("Unhandled exception", stderr);
        Assert.DoesNotContain("| type |", stdout); // nothing was timed
    }
}
