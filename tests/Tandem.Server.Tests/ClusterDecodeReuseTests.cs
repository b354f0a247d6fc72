using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tandem.Engine.KvCache;
using Tandem.Engine.Tests;

namespace Tandem.Server.Tests;

/// <summary>
/// Across processes: a decode worker that holds a conversation's history in its prefix cache (it decoded the turn
/// before) pulls only the KV blocks of the next turn it lacks, the output is exactly that of a server without prefix
/// caching, and the frontend's /metrics sums the workers' prefix-cache and disk-tier counters.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterDecodeReuseTests : IDisposable
{
    private const int BlockSize = 16; // the default
    private const int HistoryTokens = 100; // 6 full blocks, and a partial one
    private const int NewTokens = 20;
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);
    private readonly string _disk = TestPaths.NewTempDir();

    public void Dispose() => Directory.Delete(_disk, recursive: true);

    [Fact]
    public async Task A_decode_worker_pulls_only_the_blocks_its_cache_lacks_and_the_frontend_sums_the_workers_cache_counters()
    {
        var rng = new Random(7);
        int[] history = [.. Enumerable.Range(0, HistoryTokens).Select(_ => rng.Next(3, 500))];
        int[] turn2 = [.. history, .. Enumerable.Range(0, NewTokens).Select(_ => rng.Next(3, 500))];

        (string Text, string LogProbs)[] expected;
        using (var plain = await ServeProcess.StartAsync("--role", "all", "--cores-per-instance", "1", "--no-prefix-caching"))
        {
            using var http = new HttpClient { BaseAddress = plain.Address, Timeout = TimeSpan.FromMinutes(2) };
            expected = [await CompleteAsync(http, history), await CompleteAsync(http, turn2)];
        }

        using var cluster = await LocalCluster.StartAsync(1, 1, decodeArguments: ["--kv-disk-dir", _disk, "--kv-disk-policy", "always"]);
        var turn1 = await CompleteAsync(cluster.Http, history);
        double bytes1 = await TransferBytesAfterAsync(cluster, 0);
        // The second turn reaches the decode worker holding the first's KV (prompt and answer) freed into its cache: the
        // history's 6 whole blocks are reused there, and only the 20 tokens after them are pulled.
        var second = await CompleteAsync(cluster.Http, turn2);
        double bytes2 = await TransferBytesAfterAsync(cluster, bytes1) - bytes1;

        Assert.Equal(expected[0], turn1);
        Assert.Equal(expected[1], second);
        const int framing = KvPayloadHeader.Size + KvPayloadHeader.TrailerSize;
        int reused = HistoryTokens / BlockSize * BlockSize;
        double perToken = (bytes1 - framing) / HistoryTokens;
        Assert.True(perToken > 0 && perToken == Math.Floor(perToken), $"turn 1 moved {bytes1} bytes");
        Assert.Equal(framing + (turn2.Length - reused) * perToken, bytes2);
        Assert.Equal((double)reused, await LocalCluster.MetricAsync(cluster.Http, "tandem:kv_transfer_reused_tokens_total"));

        // The frontend's counters are its workers': the prefill worker looked both prompts up and found the history's
        // blocks on the second; the decode worker's disk tier shows up as its /health reports it.
        var until = DateTime.UtcNow + WaitLimit;
        while (await LocalCluster.MetricAsync(cluster.Http, "vllm:prefix_cache_queries_total") < history.Length + turn2.Length)
        {
            if (DateTime.UtcNow > until) Assert.Fail("the frontend's vllm:prefix_cache_queries_total never counted the workers' lookups");
            await Task.Delay(100);
        }
        Assert.Equal((double)reused, await LocalCluster.MetricAsync(cluster.Http, "vllm:prefix_cache_hits_total"));
        var disk = (await LocalCluster.WorkerHealthAsync(cluster.Decode[0])).GetProperty("kv_disk");
        Assert.Equal((double)disk.GetProperty("blocks").GetInt64(), await LocalCluster.MetricAsync(cluster.Http, "tandem:kv_disk_blocks"));
        Assert.Equal((double)disk.GetProperty("written_bytes").GetInt64(), await LocalCluster.MetricAsync(cluster.Http, "tandem:kv_disk_written_bytes_total"));
        Assert.Equal((double)disk.GetProperty("hits").GetInt64(), await LocalCluster.MetricAsync(cluster.Http, "tandem:kv_disk_hits_total"));
        await cluster.AssertPoolsEmptyAsync(WaitLimit);
    }

    /// <summary>Greedy, 8 tokens with their logprobs: the text and the logprobs as the server wrote them.</summary>
    private static async Task<(string Text, string LogProbs)> CompleteAsync(HttpClient http, int[] prompt)
    {
        var reply = await http.PostAsync("/v1/completions", new JsonObject
        {
            ["model"] = RunningServer.ModelName,
            ["prompt"] = new JsonArray([.. prompt.Select(t => (JsonNode)t)]),
            ["max_tokens"] = 8,
            ["temperature"] = 0,
            ["logprobs"] = 1,
            ["ignore_eos"] = true,
        });
        Assert.True(reply.Status == HttpStatusCode.OK, $"{reply.Status} {reply.Body}");
        var choice = reply.Body.GetProperty("choices")[0];
        return (choice.GetProperty("text").GetString()!, choice.GetProperty("logprobs").GetProperty("token_logprobs").GetRawText());
    }

    /// <summary>The frontend's tandem:kv_transfer_bytes_total once it has grown past <paramref name="before"/> (a request's outcome is counted as it ends).</summary>
    private static async Task<double> TransferBytesAfterAsync(LocalCluster cluster, double before)
    {
        var until = DateTime.UtcNow + WaitLimit;
        while (true)
        {
            double now = await LocalCluster.MetricAsync(cluster.Http, "tandem:kv_transfer_bytes_total");
            if (now > before) return now;
            if (DateTime.UtcNow > until) Assert.Fail($"tandem:kv_transfer_bytes_total stayed at {now}");
            await Task.Delay(50);
        }
    }
}
