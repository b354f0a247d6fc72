using System.Globalization;
using Tandem.Cli;
using Tandem.Engine.Tests.Generation;
using Tandem.Engine.Tests.Oracle;

namespace Tandem.Engine.Tests.Cli;

/// <summary>The real <c>tandem generate</c> command line: what it prints is llama.cpp's greedy continuation, as llama-cli prints it.</summary>
public sealed class GenerateCommandTests
{
    private const int MaxTokens = 24;

    [Theory]
    [InlineData("stories260K.gguf")]
    [InlineData("tinyllama-v0-q4_0.gguf")]
    public void Greedy_output_is_llama_cpps_continuation_text(string file)
    {
        string path = TestPaths.Model(file);
        using var oracle = new LlamaCppOracle(path);

        foreach (string prompt in ContinuationPrompts.All)
        {
            var (_, expected) = oracle.GreedyCompletion(oracle.Tokenize(prompt, addBos: true), MaxTokens);

            var o = new StringWriter();
            var e = new StringWriter();
            int code = TandemApp.Run(
                ["generate", "--model", path, "--prompt", prompt, "-n", MaxTokens.ToString(CultureInfo.InvariantCulture),
                 "--temperature", "0", "--threads", "1"],
                new CliConsole(o, e));

            Assert.True(code == 0, e.ToString());
            // The continuation, then the newline the command ends its output with.
            Assert.Equal(expected + Environment.NewLine, o.ToString());
        }
    }

    /// <summary>The case: llama.cpp continues "The cat sat" with " down on the ground" (9 pieces of this small vocabulary).</summary>
    [Fact]
    public void The_cat_sat_down_with_a_space_between()
    {
        var o = new StringWriter();
        int code = TandemApp.Run(
            ["generate", "--model", TestPaths.Model("stories260K.gguf"), "--prompt", "The cat sat", "-n", "9", "--temperature", "0", "--threads", "1"],
            new CliConsole(o, new StringWriter()));

        Assert.Equal(0, code);
        Assert.Equal(" down on the ground" + Environment.NewLine, o.ToString());
    }
}
