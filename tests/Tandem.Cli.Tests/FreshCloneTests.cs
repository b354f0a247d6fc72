namespace Tandem.Cli.Tests;

/// <summary>The README's run command in a fresh clone (<see cref="CleanClone"/>), with nothing but the SDK.</summary>
[Collection(CleanClone.Collection)]
public sealed class FreshCloneTests(CleanClone clone)
{
    /// <summary>The start of llama.cpp's 32-token greedy continuation of "Once upon a time" on stories260K (../shared/models/README.md).</summary>
    public const string LlamaCppContinuation = ", there was a little girl named Lily. She loved to play outside in the park.";

    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task The_readmes_run_command_works_without_shared()
    {
        Assert.DoesNotContain("shared", clone.RunCommand);
        Assert.False(Directory.Exists(Path.Combine(clone.Directory, "..", "shared")));
        var run = clone.Run;
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("using the bundled stories260K.gguf", run.Stderr);
        Assert.Matches(@"decode: \d+ tokens in", run.Stderr);
        Assert.True(run.Stdout.Count(char.IsLetter) >= 100, run.ToString()); // 128 sampled tokens of story

        // The same build, greedy: the text is llama.cpp's, so the bundled model is the real one.
        var greedy = await clone.ShellAsync(clone.RunCommand.Replace(" -c Release ", " -c Release --no-build ", StringComparison.Ordinal) + " --temperature 0 -n 32", Limit);
        Assert.True(greedy.ExitCode == 0, greedy.ToString());
        Assert.StartsWith(LlamaCppContinuation, greedy.Stdout);
    }
}
