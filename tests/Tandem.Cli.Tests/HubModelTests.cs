using Tandem.Hub.Tests;

namespace Tandem.Cli.Tests;

/// <summary><c>--model hf:…</c> end to end: the CLI as a process, the Hub a fake one on Kestrel named by HF_ENDPOINT, the cache in HF_HOME.</summary>
public sealed class HubModelTests : IDisposable
{
    private readonly string _home = TestPaths.NewTempDir();

    public void Dispose() => Directory.Delete(_home, recursive: true);

    [Fact]
    public async Task Generate_downloads_the_named_quant_then_runs_from_the_cache_offline()
    {
        var repo = new FakeHubRepo("test-org/stories-GGUF", "89abcdef0123456789abcdef0123456789abcdef",
            [new FakeHubFile("stories260K-Q8_0.gguf", File.ReadAllBytes(TestPaths.Model("stories260K.gguf"))),
             new FakeHubFile("stories260K-f16.gguf", File.ReadAllBytes(TestPaths.Model("llama2-tiny-random-f16.gguf")))]);
        await using var hub = await FakeHub.StartAsync(repo);
        hub.DropConnections(count: 1, afterBytes: 400_000);
        var env = new Dictionary<string, string?> { ["HF_HOME"] = _home, ["HF_ENDPOINT"] = hub.Address.ToString(), ["HF_TOKEN"] = null, ["HF_HUB_OFFLINE"] = null };
        string[] generate = ["generate", "--model", "hf:test-org/stories-GGUF:Q8_0", "--prompt", "Once upon a time", "--temperature", "0", "-n", "24", "--threads", "1"];

        var first = await CliProcess.TandemAsync(env, TimeSpan.FromMinutes(2), generate);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.StartsWith(", there was a little girl named Lily.", first.Stdout);
        Assert.Contains("downloading stories260K-Q8_0.gguf: [##########] 100%", first.Stderr);
        Assert.Contains(Path.Combine(_home, "hub", "models--test-org--stories-GGUF", "snapshots", repo.Commit, "stories260K-Q8_0.gguf"), first.Stderr);

        int requests = hub.Log.Count;
        var offline = await CliProcess.TandemAsync(new Dictionary<string, string?>(env) { ["HF_HUB_OFFLINE"] = "1" }, TimeSpan.FromMinutes(2), generate);
        Assert.True(offline.ExitCode == 0, offline.ToString());
        Assert.Equal(first.Stdout, offline.Stdout);
        Assert.DoesNotContain("downloading", offline.Stderr);
        Assert.Equal(requests, hub.Log.Count);

        var missing = await CliProcess.TandemAsync(env, TimeSpan.FromMinutes(2), ["generate", "--model", "hf:test-org/stories-GGUF:Q6_K", "--prompt", "x"]);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("error: hf:test-org/stories-GGUF:Q6_K: test-org/stories-GGUF has no Q6_K file", missing.Stderr);
        Assert.Contains("stories260K-Q8_0.gguf", missing.Stderr);
    }
}
