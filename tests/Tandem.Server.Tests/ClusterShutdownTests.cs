namespace Tandem.Server.Tests;

/// <summary>
/// A worker told to stop (SIGTERM, as Kubernetes sends before removing a pod) drains: it refuses new work, which the
/// frontend sends to another worker, and finishes what it runs, still answering heartbeats, so nothing is cut or
/// recomputed; then it exits 0.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterShutdownTests
{
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_decode_worker_given_SIGTERM_takes_no_new_work_finishes_its_own_and_nothing_is_recomputed()
    {
        // The larger model, so the wait below catches the first decode worker decoding (ClusterFailureTests.SlowModel).
        var expected = await ClusterFailureTests.SlowLongReferenceAsync();
        // A long worker timeout: under heavy load a late heartbeat must not pass for a dead worker (which is recomputed).
        using var cluster = await LocalCluster.StartAsync(1, 2, workerArguments: ["--shutdown-timeout", "120", .. ClusterFailureTests.SlowModel],
            frontendArguments: ["--worker-timeout", "30", .. ClusterFailureTests.SlowModel]);
        var before = ClusterWorkload.RunAllAsync(cluster.Http, ClusterFailureTests.Requests, ClusterFailureTests.Long);
        await ClusterFailureTests.WaitForAsync(async () => (await LocalCluster.WorkerHealthAsync(cluster.Decode[0])).GetProperty("running").GetInt32() > 0,
            "the first decode worker decoding");

        cluster.Decode[0].Terminate();
        var after = ClusterWorkload.RunAllAsync(cluster.Http, 8, ClusterFailureTests.Long);

        foreach (var run in new[] { await before, await after })
            for (int i = 0; i < run.Length; i++)
                Assert.True(expected[i] == run[i], $"request {i}: expected {expected[i]}, the cluster streamed {run[i]}");
        Assert.Equal(0, await cluster.Decode[0].WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("stopped: every request finished", cluster.Decode[0].Stderr);
        Assert.Equal(0, await LocalCluster.MetricAsync(cluster.Http, "vllm:num_preemptions_total"));
        await cluster.AssertPoolsEmptyAsync(DrainLimit);
    }
}
