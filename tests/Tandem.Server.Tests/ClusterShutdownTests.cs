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
        var expected = await ClusterFailureTests.LongReferenceAsync();
        // A long worker timeout: under heavy load a late heartbeat must not pass for a dead worker (which is recomputed).
        using var cluster = await LocalCluster.StartAsync(1, 2, workerArguments: ["--shutdown-timeout", "120"],
            frontendArguments: ["--worker-timeout", "30"], relay: ClusterFailureTests.HoldFirstPull);
        var relay = (HoldingKvRelay)cluster.Relay!;
        // Request 0 alone first, its pull held: the worker pulling it surely has a request of its own in flight when it is
        // told to stop, and keeps it until the new work below is done.
        var first = ClusterWorkload.RunAsync(cluster.Http, ClusterFailureTests.Long(0));
        await relay.Holding.WaitAsync(TimeSpan.FromSeconds(30));
        var stopping = await cluster.DecodeWorkerWaitingAsync();
        var before = ClusterWorkload.RunAllAsync(cluster.Http, ClusterFailureTests.Requests - 1, i => ClusterFailureTests.Long(i + 1));

        stopping.Terminate();
        await ClusterFailureTests.WaitForAsync(() => Task.FromResult(stopping.Stderr.Contains("stopping:")), "the decode worker to begin its drain");
        var after = await ClusterWorkload.RunAllAsync(cluster.Http, 8, ClusterFailureTests.Long); // while it still holds request 0
        Assert.False(first.IsCompleted, "request 0 ended while its pull was held");
        relay.Release();

        foreach (var run in new (string Text, string? Finish)[][] { [await first, .. await before], after })
            for (int i = 0; i < run.Length; i++)
                Assert.True(expected[i] == run[i], $"request {i}: expected {expected[i]}, the cluster streamed {run[i]}");
        Assert.Equal(0, await stopping.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("stopped: every request finished", stopping.Stderr);
        Assert.Equal(0, await LocalCluster.MetricAsync(cluster.Http, "vllm:num_preemptions_total"));
        await cluster.AssertPoolsEmptyAsync(DrainLimit);
    }
}
