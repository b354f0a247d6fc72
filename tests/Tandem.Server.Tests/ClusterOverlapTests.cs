namespace Tandem.Server.Tests;

/// <summary>
/// KV transfer overlapped with prefill (the frontend's <c>--kv-overlap</c>) on real processes: prompts of up to 380 tokens
/// prefilled in 16-token chunks, the decode worker pulling each finished block while later chunks are computed. The
/// clients see exactly what a pull after prefill gives them (greedy, seeded sampling, structured output), over gRPC and
/// shared memory, and through a worker killed mid-overlap; every pool ends empty without help from the lease.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterOverlapTests
{
    private const int Requests = 20; // ClusterWorkload.PromptLengths: 1 to 380 tokens
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(20);
    /// <summary>
    /// The larger test model (tinyllama-v0: more layers, wider FFN), so that a long prompt's prefill lasts long enough
    /// for its pull to take blocks out between the chunks.
    /// </summary>
    private static readonly string[] Model = ["--model", TestRuntimes.LongContextModelPath, "--served-model-name", RunningServer.ModelName];
    /// <summary>Small chunks, so a long prompt's prefill takes many steps for its KV to be pulled between.</summary>
    private static readonly string[] Chunked = ["--prefill-token-target", "16", "--kv-lease", "600", .. Model];
    private static readonly string[] Overlap = ["--kv-overlap", "--worker-timeout", "2", .. Model];

    private static (string Text, string? Finish)[]? _reference;

    /// <summary>The workload's output from the same cluster pulling after prefill (computed once per test run).</summary>
    private static async Task<(string Text, string? Finish)[]> ReferenceAsync()
    {
        if (_reference != null) return _reference;
        using var cluster = await LocalCluster.StartAsync(1, 1, workerArguments: Chunked, frontendArguments: Model);
        return _reference = await ClusterWorkload.RunAllAsync(cluster.Http, Requests, ClusterWorkload.SizedRequest);
    }

    [Theory]
    [InlineData("grpc")]
    [InlineData("shm")]
    public async Task KV_pulled_while_the_prefill_runs_streams_exactly_what_a_pull_after_prefill_streams(string transport)
    {
        var expected = await ReferenceAsync();
        using var cluster = await LocalCluster.StartAsync(1, 1, workerArguments: Chunked, frontendArguments: Overlap,
            decodeArguments: ["--kv-transport", transport]);

        // One long prompt first: since the CLI compiles every method optimised at its first call (tiering off), the
        // first pull's gRPC path took longer to compile than the whole workload took to prefill, and no block went out
        // early (fresh-clone CI at fd5f1ce); the workload's pulls now find it compiled, as a running cluster's do. Over
        // gRPC it is repeated (up to five times) until one of its blocks goes out early: one run did not always compile
        // the whole early path (fresh-clone run at 0545d99), and each run's output is checked as the workload's is.
        for (int i = 0; i < 5; i++)
        {
            Assert.True(expected[^1] == await ClusterWorkload.RunAsync(cluster.Http, ClusterWorkload.SizedRequest(Requests - 1)));
            if (transport != "grpc" || (await LocalCluster.WorkerHealthAsync(cluster.Prefill[0])).GetProperty("kv_blocks_sent_early").GetInt32() > 0)
                break;
        }
        var actual = await ClusterWorkload.RunAllAsync(cluster.Http, Requests, ClusterWorkload.SizedRequest);

        AssertSame(expected, actual);
        var prefill = await LocalCluster.WorkerHealthAsync(cluster.Prefill[0]);
        var decode = await LocalCluster.WorkerHealthAsync(cluster.Decode[0]);
        if (transport == "grpc")
        {
            // Blocks went out while their prompt was still being computed: the transfer overlapped the prefill.
            Assert.True(prefill.GetProperty("kv_blocks_sent_early").GetInt32() > 0, $"no block was pulled before its prefill ended: {prefill}");
            Assert.True(decode.GetProperty("kv_pulls_streamed").GetInt32() > 0, $"{decode}");
        }
        else Assert.True(decode.GetProperty("kv_pulls_shared_memory").GetInt32() > 0 && decode.GetProperty("kv_pulls_streamed").GetInt32() == 0, $"{decode}");
        await cluster.AssertPoolsEmptyAsync(DrainLimit);
        Assert.Empty(Directory.GetFiles("/dev/shm", $"tandem-kv-{cluster.Prefill[0].Pid}-*"));
    }

    [Theory]
    [InlineData("prefill")]
    [InlineData("decode")]
    public async Task A_worker_killed_mid_overlap_loses_no_token_and_leaves_no_KV(string role)
    {
        var expected = await ReferenceAsync();
        using var cluster = await LocalCluster.StartAsync(role == "prefill" ? 2 : 1, role == "decode" ? 2 : 1, workerArguments: Chunked, frontendArguments: Overlap);
        var run = ClusterWorkload.RunAllAsync(cluster.Http, Requests, ClusterWorkload.SizedRequest);
        var victim = role == "prefill" ? cluster.Prefill[0] : cluster.Decode[0];
        // Work there: a prompt being prefilled (and pulled from), or KV being pulled into reserved blocks.
        await ClusterFailureTests.WaitForAsync(async () =>
        {
            var h = await LocalCluster.WorkerHealthAsync(victim);
            return h.GetProperty("running").GetInt32() + h.GetProperty("kv_blocks_used").GetInt32() > 0;
        }, $"the first {role} worker holding work");

        victim.KillHard();
        var actual = await run;

        AssertSame(expected, actual);
        await cluster.AssertPoolsEmptyAsync(DrainLimit);
    }

    private static void AssertSame((string Text, string? Finish)[] expected, (string Text, string? Finish)[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(expected[i] == actual[i], $"request {i}: after prefill {expected[i]}, overlapped {actual[i]}");
    }
}
