namespace Tandem.Engine.Tests.Agreement;

/// <summary>Which llama.cpp builds the logits bound is checked against, and the reasons given where it is not.</summary>
public class OracleBuildBoundTests
{
    private const string Native = "/root/.nuget/packages/llamasharp.backend.cpu/0.25.0/runtimes/linux-x64/native";

    [Theory]
    [InlineData("avx512", 16)]
    [InlineData("avx2", 8)]
    public void TheBoundAppliesWhereTheEngineSumsAsTheLoadedBuild(string build, int width) =>
        Assert.Null(OracleBuildBound.WhyNot($"{Native}/{build}/libllama.so", width));

    [Theory]
    [InlineData("avx", 0, "no ggml-ordered float sums")]
    [InlineData("noavx", 0, "'noavx' build")]
    [InlineData("avx", 8, "'avx' build, but the engine sums as the 'avx2' build")]
    [InlineData("avx2", 16, "'avx2' build, but the engine sums as the 'avx512' build")]
    public void ElsewhereTheReasonNamesTheBuildAndTheEnginesOrder(string build, int width, string expected)
    {
        string? reason = OracleBuildBound.WhyNot($"{Native}/{build}/libllama.so", width);
        Assert.NotNull(reason);
        Assert.Contains(expected, reason);
    }

    [Fact]
    public void AnUnknownBuildIsNotTakenForOneTheBoundWasSetFor() =>
        Assert.Contains("cannot tell which llama.cpp build", OracleBuildBound.WhyNot(null, 16));
}
