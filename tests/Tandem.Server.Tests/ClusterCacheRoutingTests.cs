using System.Net;
using System.Text.Json.Nodes;
using Tandem.Server.Cluster;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Tests;

/// <summary>
/// Cache-aware routing across processes: prefill workers report the blocks they hold cached in their heartbeats, and a
/// frontend sends a conversation's next turn to the worker holding its history, with
/// usage.prompt_tokens_details.cached_tokens carried back from that worker.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterCacheRoutingTests
{
    private const int BlockSize = 16;
    private const int HistoryTokens = 100; // 6 full blocks of 16, and a partial one
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Each_conversations_next_turn_goes_to_the_prefill_worker_holding_its_history_and_reports_the_cached_tokens()
    {
        using var cluster = await LocalCluster.StartAsync(2, 1);
        // Two conversations' histories, each left cached on its own prefill worker: prefilled there through the worker
        // protocol (what a frontend asks), the KV released without a pull, so its blocks stay in that worker's cache.
        var histories = new[] { Tokens(seed: 1, HistoryTokens), Tokens(seed: 2, HistoryTokens) };
        using var channels = new ClusterChannels(new ClusterToken(LocalCluster.Token));
        for (int c = 0; c < 2; c++)
            Assert.Equal(0, await PrefillAndReleaseAsync(channels, cluster.Prefill[c], histories[c], $"turn-1-{c}"));
        int cachedBlocks = HistoryTokens / BlockSize;
        await WaitForFrontendAsync(cluster, cachedBlocks);

        // The next turns, through the frontend, one at a time (an idle cluster: by load alone both would go to one worker).
        for (int c = 0; c < 2; c++)
        {
            int[] turn = [.. histories[c], .. Tokens(seed: 10 + c, 20)];
            var reply = await cluster.Http.PostAsync("/v1/completions", new JsonObject
            {
                ["model"] = RunningServer.ModelName,
                ["prompt"] = new JsonArray([.. turn.Select(t => (JsonNode)t)]),
                ["max_tokens"] = 4,
                ["temperature"] = 0,
            });
            Assert.True(reply.Status == HttpStatusCode.OK, $"turn 2 of conversation {c}: {reply.Status} {reply.Body}");
            var usage = reply.Body.GetProperty("usage");
            Assert.Equal(turn.Length, usage.GetProperty("prompt_tokens").GetInt32());
            // The history's whole blocks came from the cache of the worker that held them: it got the turn.
            Assert.Equal(cachedBlocks * BlockSize, usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
        }
    }

    /// <summary>Token ids of the test model's vocabulary (512), drawn from <paramref name="seed"/>.</summary>
    private static int[] Tokens(int seed, int count)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => rng.Next(3, 500))];
    }

    /// <summary>Prefills <paramref name="tokens"/> on a prefill worker, frees the held KV, and returns the cached tokens the worker reported.</summary>
    private static async Task<int> PrefillAndReleaseAsync(ClusterChannels channels, ServeProcess worker, int[] tokens, string id)
    {
        var client = channels.Worker(worker.Address.ToString().TrimEnd('/'));
        var request = new Proto.GenerateRequest { RequestId = id, MaxTokens = 4, Sampling = new Proto.Sampling { Seed = 1, TopP = 1, RepetitionPenalty = 1, PenaltyLastN = 64 } };
        request.TokenIds.Add(tokens);
        Proto.KvHeld? held = null;
        using (var call = client.Prefill(request))
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
                if (call.ResponseStream.Current.KvHeld is { } h) held = h;
        Assert.NotNull(held);
        Assert.True((await client.ReleaseKvAsync(new Proto.ReleaseKvRequest { KvId = held.KvId })).Released);
        return held.CachedTokens;
    }

    /// <summary>
    /// Waits (bounded) until the frontend's /health shows every prefill worker with <paramref name="blocks"/> cached blocks:
    /// the heartbeat that brought that count brought the blocks' hashes too.
    /// </summary>
    private static async Task WaitForFrontendAsync(LocalCluster cluster, int blocks)
    {
        var until = DateTime.UtcNow + WaitLimit;
        while (true)
        {
            var health = System.Text.Json.JsonDocument.Parse(await cluster.Http.GetStringAsync("/health")).RootElement;
            var cached = health.GetProperty("instances").EnumerateArray()
                .Where(i => i.GetProperty("role").GetString() == "prefill")
                .Select(i => i.GetProperty("kv_blocks_cached").GetInt32()).ToList();
            if (cached.Count == 2 && cached.All(n => n >= blocks)) return;
            if (DateTime.UtcNow > until) Assert.Fail($"the frontend never saw the workers' cached blocks: {health}");
            await Task.Delay(100);
        }
    }
}
