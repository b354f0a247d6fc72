using Tandem.Engine.Gguf;

namespace Tandem.Cli.Tests;

/// <summary><c>--weights</c>: where generate puts the weights, said on standard error, the same text either way.</summary>
public sealed class WeightsOptionTests
{
    [Fact]
    public void Generate_from_mapped_weights_says_so()
    {
        var mapped = Generate("mapped");
        Assert.True(mapped.Code == 0, mapped.Err);
        Assert.Contains("weights: mapped from the file", mapped.Err);
    }

    [SkippableFact]
    public void Generate_says_where_the_weights_went_and_continues_the_same_from_either_placement()
    {
        Skip.IfNot(HugePageMemory.Available, $"transparent huge pages are off here ({HugePageMemory.SettingPath}): --weights huge-pages is refused");
        var mapped = Generate("mapped");
        var huge = Generate("huge-pages");
        Assert.True(mapped.Code == 0, mapped.Err);
        Assert.True(huge.Code == 0, huge.Err);
        Assert.Matches(@"weights: [0-9.]+ [KMG]i?B copied into huge-page memory in [0-9.]+ s\n", huge.Err.ReplaceLineEndings("\n"));
        Assert.False(string.IsNullOrWhiteSpace(huge.Out));
        Assert.Equal(mapped.Out, huge.Out);
    }

    [Fact]
    public void An_unknown_placement_is_a_usage_error_that_lists_the_choices()
    {
        var run = Generate("swap");
        Assert.NotEqual(0, run.Code);
        Assert.Contains("swap", run.Err);
        Assert.Contains("huge-pages", run.Err);
        Assert.Equal("", run.Out);
    }

    private static (int Code, string Out, string Err) Generate(string weights)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = TandemApp.Run(["generate", "--model", TestPaths.Model("tinyllama-v0-q4_0.gguf"), "--prompt", "Once upon a time",
            "--temperature", "0", "-n", "16", "--threads", "1", "--weights", weights], new CliConsole(o, e));
        return (code, o.ToString(), e.ToString());
    }
}
