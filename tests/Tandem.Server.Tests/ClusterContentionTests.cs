namespace Tandem.Server.Tests;

/// <summary>
/// A cluster of real processes (frontend, one prefill and one decode worker, each worker a team of threads on every
/// core) while busy processes compete for those cores: prompts of many sizes, some ending on or across KV block
/// boundaries and some long, all in flight at once. What one process streams, the cluster streams, every request
/// ends, and both workers' pools go back to zero used blocks.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterContentionTests
{
    private const int Requests = 32;
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Under_CPU_contention_a_cluster_streams_exactly_what_one_process_streams_and_frees_every_block()
    {
        (string Text, string? Finish)[] expected;
        using (var all = await ServeProcess.StartAsync("--role", "all", "--cores-per-instance", "1"))
        using (var http = new HttpClient { BaseAddress = all.Address, Timeout = TimeSpan.FromMinutes(2) })
            expected = await ClusterWorkload.RunAllAsync(http, Requests, ClusterWorkload.SizedRequest);
        Assert.Contains(expected, r => r.Finish == "length");

        // Both workers' teams share all cores with each other and with one busy process per core. The
        // frontend's worker timeout is long enough that a starved heartbeat is not taken for a dead worker: this test
        // is about the computed tokens, not failure detection.
        int cores = Environment.ProcessorCount;
        string team = cores > 1 ? $"0-{Math.Min(cores, 4) - 1}" : "0";
        using var cluster = await LocalCluster.StartAsync(1, 1, workerArguments: ["--cores", team], frontendArguments: ["--worker-timeout", "30"]);
        using var hogs = new CpuHogs(cores);

        var actual = await ClusterWorkload.RunAllAsync(cluster.Http, Requests, ClusterWorkload.SizedRequest);

        Assert.Equal(cores, hogs.Running); // the contention lasted the whole run
        for (int i = 0; i < Requests; i++)
            Assert.True(expected[i] == actual[i],
                $"request {i} ({ClusterWorkload.PromptLengths[i % ClusterWorkload.PromptLengths.Length]}-token prompt): expected {expected[i]}, the cluster streamed {actual[i]}");
        await cluster.AssertPoolsEmptyAsync(DrainLimit);
    }
}
