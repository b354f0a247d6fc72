namespace Tandem.Hub.Tests;

/// <summary>
/// <see cref="HubClient"/> against a fake Hub on Kestrel serving the shared test models as a repository's GGUF files:
/// choice of file, the Hub cache layout, resume after a dropped connection, hash checks, errors, token, offline.
/// </summary>
public sealed class HubClientTests : IDisposable
{
    private const string Commit = "0123456789abcdef0123456789abcdef01234567";
    private readonly string _home = TestPaths.NewTempDir();

    private static readonly FakeHubFile Q8 = new("tiny-Q8_0.gguf", File.ReadAllBytes(TestPaths.Model("stories260K.gguf")));
    private static readonly FakeHubFile Q4 = new("tiny-Q4_K_M.gguf", File.ReadAllBytes(TestPaths.Model("tinyllama-v0-q4_0.gguf")));
    private static readonly FakeHubFile Readme = new("README.md", "# tiny\n"u8.ToArray(), Lfs: false);
    private static readonly FakeHubFile SmallGguf = new("sub/small.gguf", File.ReadAllBytes(TestPaths.Model("llama2-tiny-random-f16.gguf")), Lfs: false);
    private static readonly FakeHubRepo Repo = new("test-org/tiny-GGUF", Commit, [Readme, Q8, Q4, SmallGguf]);

    public void Dispose() => Directory.Delete(_home, recursive: true);

    private HubSettings Settings(FakeHub hub, string? token = null) =>
        new() { Endpoint = hub.Address.ToString().TrimEnd('/'), CacheDirectory = Path.Combine(_home, "hub"), Token = token };

    private static async Task<string> Resolve(HubSettings settings, string reference, IProgress<HubDownloadProgress>? progress = null)
    {
        using var client = new HubClient(settings);
        return await client.ResolveAsync(HubModelReference.Parse(reference), progress);
    }

    [Fact]
    public async Task A_quant_tag_picks_its_file_and_lands_in_the_hub_cache_layout()
    {
        await using var hub = await FakeHub.StartAsync(Repo);
        string path = await Resolve(Settings(hub), "hf:test-org/tiny-GGUF:q8_0");

        string repoDir = Path.Combine(_home, "hub", "models--test-org--tiny-GGUF");
        Assert.Equal(Path.Combine(repoDir, "snapshots", Commit, "tiny-Q8_0.gguf"), path);
        Assert.Equal(Path.Combine("..", "..", "blobs", Q8.Sha256), new FileInfo(path).LinkTarget);
        Assert.Equal(Q8.Bytes, File.ReadAllBytes(Path.Combine(repoDir, "blobs", Q8.Sha256)));
        Assert.Equal(Commit, File.ReadAllText(Path.Combine(repoDir, "refs", "main")));
        Assert.Empty(Directory.GetFiles(Path.Combine(repoDir, "blobs"), "*.incomplete"));

        // No tag: llama.cpp's default, Q4_K_M. A file by path (kept in git, not LFS: its ETag is the git blob id).
        Assert.EndsWith("tiny-Q4_K_M.gguf", await Resolve(Settings(hub), "hf:test-org/tiny-GGUF"));
        string small = await Resolve(Settings(hub), "hf:test-org/tiny-GGUF/sub/small.gguf");
        Assert.Equal(Path.Combine(repoDir, "snapshots", Commit, "sub", "small.gguf"), small);
        Assert.Equal(SmallGguf.Bytes, File.ReadAllBytes(small));
    }

    [Fact]
    public async Task A_cached_file_is_not_downloaded_again()
    {
        await using var hub = await FakeHub.StartAsync(Repo);
        await Resolve(Settings(hub), "hf:test-org/tiny-GGUF:Q8_0");
        Assert.Single(hub.Log, l => l.StartsWith("GET /cdn/", StringComparison.Ordinal));
        await Resolve(Settings(hub), "hf:test-org/tiny-GGUF:Q8_0");
        Assert.Single(hub.Log, l => l.StartsWith("GET /cdn/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_connection_dropped_mid_file_is_resumed_with_a_range_request_and_verified()
    {
        await using var hub = await FakeHub.StartAsync(Repo);
        hub.DropConnections(count: 2, afterBytes: 300_000);
        var reports = new List<HubDownloadProgress>();
        string path = await Resolve(Settings(hub), "hf:test-org/tiny-GGUF:Q8_0", new SynchronousProgress(reports.Add));

        Assert.Equal(Q8.Bytes, File.ReadAllBytes(path));
        // Three GETs on the CDN: the first from byte 0, each later one resuming from what reached the disk (how much
        // of the dropped responses' bytes arrive before the reset is the network's business, so only the order is checked).
        var cdn = hub.Log.Where(l => l.StartsWith("GET /cdn/", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, cdn.Count);
        Assert.DoesNotContain("range=", cdn[0]);
        long[] starts = cdn.Skip(1).Select(l => l.Contains("range=", StringComparison.Ordinal) ? long.Parse(l[(l.IndexOf("range=bytes=", StringComparison.Ordinal) + 12)..].TrimEnd('-')) : 0).ToArray();
        Assert.True(starts[0] > 0 && starts[1] > starts[0] && starts[1] <= 600_000, $"resumed from {string.Join(", ", starts)}");
        Assert.Contains(reports, r => r.Bytes == starts[0]); // the resumed download counts from what it had
        Assert.Equal(Q8.Bytes.Length, reports[^1].Bytes);
        Assert.All(reports, r => Assert.Equal(Q8.Bytes.Length, r.TotalBytes));
    }

    [Fact]
    public async Task Bytes_that_do_not_match_the_etag_are_refused_and_removed()
    {
        await using var hub = await FakeHub.StartAsync(Repo);
        hub.Corrupt = true;
        var e = await Assert.ThrowsAsync<HubException>(() => Resolve(Settings(hub), "hf:test-org/tiny-GGUF:Q8_0"));
        Assert.Contains("does not match the Hub's hash", e.Message);
        Assert.Contains(Q8.Sha256, e.Message);
        string repoDir = Path.Combine(_home, "hub", "models--test-org--tiny-GGUF");
        Assert.Empty(Directory.GetFiles(Path.Combine(repoDir, "blobs")));
        Assert.False(Directory.Exists(Path.Combine(repoDir, "snapshots")));
    }

    [Fact]
    public async Task Missing_repositories_quants_and_files_say_what_exists()
    {
        await using var hub = await FakeHub.StartAsync(Repo);
        var repo = await Assert.ThrowsAsync<HubException>(() => Resolve(Settings(hub), "hf:test-org/nothing-here"));
        Assert.Contains("there is no model repository test-org/nothing-here", repo.Message);
        Assert.Contains("HF_TOKEN", repo.Message);

        var quant = await Assert.ThrowsAsync<HubException>(() => Resolve(Settings(hub), "hf:test-org/tiny-GGUF:Q6_K"));
        Assert.Contains("has no Q6_K file", quant.Message);
        Assert.Contains("tiny-Q8_0.gguf", quant.Message); // what there is instead

        var file = await Assert.ThrowsAsync<HubException>(() => Resolve(Settings(hub), "hf:test-org/tiny-GGUF/other.gguf"));
        Assert.Contains("has no file other.gguf", file.Message);
        Assert.False(Directory.Exists(Path.Combine(_home, "hub", "models--test-org--nothing-here", "snapshots")));
    }

    [Fact]
    public async Task A_renamed_repository_is_followed_through_the_hubs_relative_redirect()
    {
        await using var hub = await FakeHub.StartAsync(Repo);
        hub.Renamed["old-org/tiny-GGUF"] = "test-org/tiny-GGUF";
        string path = await Resolve(Settings(hub), "hf:old-org/tiny-GGUF:Q8_0");
        Assert.Equal(Q8.Bytes, File.ReadAllBytes(path));
        // Cached under the name the user gave, as huggingface_hub does.
        Assert.Contains("models--old-org--tiny-GGUF", path);
    }

    [Fact]
    public async Task A_gated_repository_needs_the_token_which_never_goes_to_the_cdn()
    {
        var gated = Repo with { Id = "gated-org/tiny-GGUF", RequiredToken = "hf_secret" };
        await using var hub = await FakeHub.StartAsync(gated);
        var refused = await Assert.ThrowsAsync<HubException>(() => Resolve(Settings(hub), "hf:gated-org/tiny-GGUF:Q8_0"));
        Assert.Contains("set HF_TOKEN", refused.Message);
        var wrong = await Assert.ThrowsAsync<HubException>(() => Resolve(Settings(hub, token: "hf_wrong"), "hf:gated-org/tiny-GGUF:Q8_0"));
        Assert.Contains("the token in HF_TOKEN may not read gated-org/tiny-GGUF", wrong.Message);

        string path = await Resolve(Settings(hub, token: "hf_secret"), "hf:gated-org/tiny-GGUF:Q8_0");
        Assert.Equal(Q8.Bytes, File.ReadAllBytes(path));
        Assert.Contains(hub.Log, l => l.StartsWith("HEAD /gated-org/tiny-GGUF/resolve/main/tiny-Q8_0.gguf", StringComparison.Ordinal) && l.EndsWith(" auth", StringComparison.Ordinal));
        Assert.Contains(hub.Log, l => l.StartsWith("GET /cdn/", StringComparison.Ordinal));
        Assert.DoesNotContain(hub.Log, l => l.StartsWith("GET /cdn/", StringComparison.Ordinal) && l.EndsWith(" auth", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Offline_uses_the_cache_only_and_says_so_when_the_file_is_not_there()
    {
        string path;
        await using (var hub = await FakeHub.StartAsync(Repo))
            path = await Resolve(Settings(hub), "hf:test-org/tiny-GGUF:Q8_0");

        // The Hub is gone: offline mode never calls it.
        var offline = new HubSettings { Endpoint = "http://127.0.0.1:9", CacheDirectory = Path.Combine(_home, "hub"), Offline = true };
        Assert.Equal(path, await Resolve(offline, "hf:test-org/tiny-GGUF:Q8_0"));
        Assert.Equal(path, await Resolve(offline, "hf:test-org/tiny-GGUF")); // the cached file, whatever its tag
        var missing = await Assert.ThrowsAsync<HubException>(() => Resolve(offline, "hf:test-org/tiny-GGUF:Q4_K_M"));
        Assert.Contains("has no Q4_K_M file in the cache (HF_HUB_OFFLINE is set)", missing.Message);
        var never = await Assert.ThrowsAsync<HubException>(() => Resolve(offline, "hf:other/repo"));
        Assert.Contains("is not in the Hugging Face cache", never.Message);
        Assert.Contains("HF_HUB_OFFLINE", never.Message);

        // Online but the Hub unreachable: the cache, with a warning (huggingface_hub's fallback).
        var warnings = new List<string>();
        using var client = new HubClient(offline with { Offline = false }, warnings.Add);
        Assert.Equal(path, await client.ResolveAsync(HubModelReference.Parse("hf:test-org/tiny-GGUF:Q8_0")));
        Assert.Contains("cannot be reached", Assert.Single(warnings));
    }

    /// <summary>Reports on the calling thread, in order (<see cref="Progress{T}"/> posts to the thread pool).</summary>
    private sealed class SynchronousProgress(Action<HubDownloadProgress> report) : IProgress<HubDownloadProgress>
    {
        public void Report(HubDownloadProgress value) => report(value);
    }
}
