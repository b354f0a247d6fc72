using System.Net;
using Tandem.Engine.Tests;

namespace Tandem.Server.Tests;

/// <summary>
/// <c>tandem serve --kv-disk-dir</c> as a real process: at SIGTERM what RAM caches goes to disk, a restarted server
/// rebuilds its index from the directory and serves the cached prefix from disk (usage's cached_tokens, the
/// tandem:kv_disk_* metrics), with the same text.
/// </summary>
public sealed class KvDiskServeTests : IDisposable
{
    private const string History = "Once upon a time, there was a little girl named Lily. She liked to play in the park with her friends every day.";
    private static readonly TimeSpan ExitLimit = TimeSpan.FromSeconds(90);
    private readonly string _dir = TestPaths.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<ServeProcess> Start() => ServeProcess.StartAsync("--mode", "colocated", "--cores-per-instance", "1", "--kv-type", "f32",
        "--kv-disk-dir", _dir, "--kv-disk-size", "64MiB", "--kv-disk-policy", "always");

    [Fact]
    public async Task A_restarted_server_serves_the_cached_prefix_from_its_disk_tier()
    {
        string firstText;
        using (var first = await Start())
        {
            Assert.Contains("KV disk tier: ", first.Stdout);
            using var http = new HttpClient { BaseAddress = first.Address, Timeout = TimeSpan.FromMinutes(2) };
            var reply = await http.PostAsync("/v1/completions", ApiCalls.Completion(History, 8));
            Assert.Equal(HttpStatusCode.OK, reply.Status);
            firstText = reply.Body.GetProperty("choices")[0].GetProperty("text").GetString()!;
            first.Terminate();
            Assert.Equal(0, await first.WaitForExitAsync(ExitLimit));
        }
        Assert.NotEmpty(Directory.GetFiles(_dir, "*.kvblock"));

        using var restarted = await Start();
        Assert.Matches(@"KV disk tier: .*, [1-9]\d* blocks stored", restarted.Stdout);
        using var client = new HttpClient { BaseAddress = restarted.Address, Timeout = TimeSpan.FromMinutes(2) };
        var again = await client.PostAsync("/v1/completions", ApiCalls.Completion(History, 8));
        Assert.Equal(HttpStatusCode.OK, again.Status);
        Assert.Equal(firstText, again.Body.GetProperty("choices")[0].GetProperty("text").GetString());
        var usage = again.Body.GetProperty("usage");
        int prompt = usage.GetProperty("prompt_tokens").GetInt32(), cached = usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        Assert.Equal((prompt - 1) / 16 * 16, cached);

        string metrics = await client.GetStringAsync("/metrics");
        Assert.Equal((double)(cached / 16), Value(metrics, "tandem:kv_disk_hits_total"));
        Assert.True(Value(metrics, "tandem:kv_disk_read_bytes_total") > 0);
        Assert.Equal(0.0, Value(metrics, "tandem:kv_disk_corrupt_total"));
    }

    private static double Value(string exposition, string name)
    {
        string series = name + "{model_name=\"stories260K\"}";
        string line = exposition.Split('\n').Single(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return double.Parse(line[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }
}
