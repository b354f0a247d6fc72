using System.Net;
using System.Text.Json.Nodes;
using Tandem.Server.Cluster;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Tests;

/// <summary>
/// Conditional disaggregation across processes: with <c>--local-prefill-threshold</c> given to the frontend (which
/// decides) and to the decode worker (which then takes prompts sent without KV), a short prompt is prefilled on the
/// decode worker with no KV pulled, a long one goes through the prefill worker, and the output is the same either way.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterLocalPrefillTests
{
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan WaitLimit = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task A_short_prompt_is_prefilled_on_the_decode_worker_and_a_long_one_goes_through_the_prefill_worker()
    {
        string[] local = ["--local-prefill-threshold", "6"];
        using var cluster = await LocalCluster.StartAsync(1, 1, frontendArguments: local, decodeArguments: local);

        async Task<int> PromptTokensOf(string prompt, string expected)
        {
            var reply = await cluster.Http.PostAsync("/v1/completions", ApiCalls.Completion(prompt, 32));
            Assert.True(reply.Status == HttpStatusCode.OK, $"{reply.Status} {reply.Body}");
            Assert.Equal(expected, reply.Body.GetProperty("choices")[0].GetProperty("text").GetString()); // llama.cpp's text
            return reply.Body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
        }
        async Task<int> PullsByTheDecodeWorker()
        {
            var health = await LocalCluster.WorkerHealthAsync(cluster.Decode[0]);
            return health.GetProperty("kv_pulls_streamed").GetInt32() + health.GetProperty("kv_pulls_shared_memory").GetInt32();
        }

        // BOS + 4 tokens, within the threshold: prefilled where it decodes, no KV moved. (The frontend's warm-up chats, past the
        // threshold, were pulled before it was ready; a worker leaves a warm-up's pulls out of its counts.)
        Assert.Equal(References.OnceUponATimePromptTokens, await PromptTokensOf(References.OnceUponATime, References.OnceUponATime32));
        Assert.Equal(0, await PullsByTheDecodeWorker());
        // Past the threshold: the prefill worker, and a pull.
        Assert.True(await PromptTokensOf(References.LilyAndBen, References.LilyAndBen32) > 6);
        Assert.Equal(1, await PullsByTheDecodeWorker());
        await cluster.AssertPoolsEmptyAsync(DrainLimit);
    }

    /// <summary>
    /// With <c>--prefill-busy-tokens 1</c> as well, prompts of any length go to the decode worker while the prefill
    /// worker has a queue (and back to it when the decode pool cannot hold them): the cluster still streams exactly what
    /// one process streams, and frees every block. Made deterministic by stopping the prefill worker (SIGSTOP; a long worker
    /// timeout keeps it up): a prompt sent there stays queued, and counts as queued until a heartbeat answers, which none
    /// does while it is stopped, so the other prompts go to the decode worker; a threshold of 1 token sends none of the
    /// workload there by its length. (Before, the prefill worker's queue was whatever the workload's timing made it, and
    /// the prompts within a 16-token threshold alone passed the check below.)
    /// </summary>
    [Fact]
    public async Task With_the_prefill_worker_busy_prompts_of_any_length_prefill_on_the_decode_worker_with_the_output_of_one_process()
    {
        const int requests = 32;
        var expected = await ClusterTests.ReferenceOutputAsync();
        using var cluster = await LocalCluster.StartAsync(1, 1,
            frontendArguments: ["--local-prefill-threshold", "1", "--prefill-busy-tokens", "1", "--worker-timeout", "120"],
            decodeArguments: ["--local-prefill-threshold", "16"]);
        using var channels = new ClusterChannels(new ClusterToken(LocalCluster.Token));
        var decodeWorker = channels.Worker(cluster.Decode[0].Address.ToString().TrimEnd('/'));
        // The decode worker looks a prompt up in its prefix cache only when it prefills it itself (a pull is no query).
        async Task<long> PrefilledByTheDecodeWorker() => (await decodeWorker.StatusAsync(new Proto.StatusRequest())).PrefixCacheQueries;
        long before = await PrefilledByTheDecodeWorker();

        cluster.Prefill[0].Pause();
        Task<(string Text, string? Finish)[]> run;
        try
        {
            run = ClusterWorkload.RunAllAsync(cluster.Http, requests);
            await ClusterFailureTests.WaitForAsync(async () => await PrefilledByTheDecodeWorker() > before,
                "a prompt past the threshold prefilled on the decode worker while the prefill worker is busy");
        }
        finally
        {
            cluster.Prefill[0].Resume();
        }
        var actual = await run;

        for (int i = 0; i < requests; i++)
            Assert.True(expected[i] == actual[i], $"request {i}: expected {expected[i]}, the cluster streamed {actual[i]}");
        await cluster.AssertPoolsEmptyAsync(DrainLimit);
    }

    /// <summary>
    /// A prompt sent to a decode worker that cannot hold it beside its requests while a pull waits there for room too is
    /// given back (recompute) and goes through the prefill worker in the same attempt: it streams what one process
    /// streams, and the decode worker pulls its KV like any other. Made deterministic with a 32-block decode pool and a
    /// slow peer: the first request's pull (24 blocks reserved) is held mid-transfer, the second's (24 more) waits for
    /// room, and the third (a 150-token prompt within the threshold, 10 blocks of the 8 left) is sent to the decode worker.
    /// Had it waited there for room instead, the prefill worker would never hold its KV.
    /// </summary>
    [Fact]
    public async Task A_prompt_the_decode_worker_cannot_hold_beside_a_waiting_pull_goes_through_the_prefill_worker_with_the_same_output()
    {
        JsonObject[] requests = [ClusterWorkload.TokenIdRequest(380, 4242), ClusterWorkload.TokenIdRequest(380, 4343), ClusterWorkload.TokenIdRequest(150, 4444)];
        var expected = new (string Text, string? Finish)[requests.Length];
        using (var all = await ServeProcess.StartAsync("--role", "all", "--cores-per-instance", "1"))
        using (var reference = new HttpClient { BaseAddress = all.Address, Timeout = TimeSpan.FromMinutes(2) })
        {
            for (int i = 0; i < requests.Length; i++) expected[i] = await ClusterWorkload.RunAsync(reference, requests[i]);
        }
        string[] local = ["--local-prefill-threshold", "200"];
        using var prefill = await LocalCluster.StartWorkerAsync("prefill", 0);
        using var decode = await LocalCluster.StartWorkerAsync("decode", 1, ["--kv-memory", "320KiB", .. local]);
        await using var relay = await HoldingKvRelay.StartAsync(prefill.Address.ToString().TrimEnd('/'), LocalCluster.Token);
        using var frontend = await ServeProcess.StartAsync(["--role", "frontend", "--cluster-token", LocalCluster.Token,
            "--prefill-workers", relay.HostPort, "--decode-workers", LocalCluster.HostPort(decode), .. local]);
        using var http = new HttpClient { BaseAddress = frontend.Address, Timeout = TimeSpan.FromMinutes(2) };
        await LocalCluster.WaitReadyAsync(http, frontend);
        // The frontend's warm-up went through the relay before it said it was ready; the fault is for this test's requests
        // (warm-up kept on: the test covers the default start-up).
        relay.Intercept();

        var first = ClusterWorkload.RunAsync(http, requests[0]);
        await relay.Holding.WaitAsync(WaitLimit);
        var second = ClusterWorkload.RunAsync(http, requests[1]);
        await ClusterFailureTests.WaitForAsync(async () => (await LocalCluster.WorkerHealthAsync(decode)).GetProperty("waiting").GetInt32() >= 2,
            "the second request's pull waiting on the decode worker behind the held one");
        var third = ClusterWorkload.RunAsync(http, requests[2]);
        // Given back, it is prefilled on the prefill worker, which then holds the KV of all three.
        await ClusterFailureTests.WaitForAsync(async () => (await LocalCluster.WorkerHealthAsync(prefill)).GetProperty("kv_held").GetInt32() >= 3,
            "the prefill worker holding the third request's KV (the decode worker kept it, or the frontend did not send it on to prefill)");
        Assert.Contains("does not fit beside this decode worker's requests", decode.Stderr);

        relay.Release();
        var actual = await Task.WhenAll(first, second, third).WaitAsync(WaitLimit);
        for (int i = 0; i < requests.Length; i++)
            Assert.True(expected[i] == actual[i], $"request {i}: expected {expected[i]}, the cluster streamed {actual[i]}");
        Assert.Equal(3, (await LocalCluster.WorkerHealthAsync(decode)).GetProperty("kv_pulls_streamed").GetInt32());
        foreach (var w in new[] { prefill, decode })
            await LocalCluster.AssertPoolEmptyAsync(w, DrainLimit);
    }
}
