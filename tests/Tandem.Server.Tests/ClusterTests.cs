namespace Tandem.Server.Tests;

/// <summary>
/// The cluster roles as real processes on loopback: a frontend with prefill and decode workers gives exactly the
/// streamed output of <c>--role all</c>, and every worker's KV pool is empty once the requests are done.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterTests
{
    private const int Requests = 32;
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    public async Task A_cluster_streams_exactly_what_one_process_streams_and_frees_every_block(int prefill, int decode)
    {
        var expected = await ReferenceOutputAsync();
        using var cluster = await LocalCluster.StartAsync(prefill, decode);

        var actual = await ClusterWorkload.RunAllAsync(cluster.Http, Requests);

        for (int i = 0; i < Requests; i++)
            Assert.True(expected[i] == actual[i], $"request {i}: expected {expected[i]}, the cluster streamed {actual[i]}");
        await cluster.AssertPoolsEmptyAsync(DrainLimit);
    }

    private static (string Text, string? Finish)[]? _reference;

    /// <summary>The workload's output from one <c>tandem serve --role all</c> process (computed once per test run).</summary>
    internal static async Task<(string Text, string? Finish)[]> ReferenceOutputAsync()
    {
        if (_reference != null) return _reference;
        using var all = await ServeProcess.StartAsync("--role", "all", "--cores-per-instance", "1");
        using var http = new HttpClient { BaseAddress = all.Address, Timeout = TimeSpan.FromMinutes(2) };
        _reference = await ClusterWorkload.RunAllAsync(http, Requests);
        Assert.Contains(_reference, r => r.Finish == "stop");
        Assert.Contains(_reference, r => r.Finish == "length");
        return _reference;
    }
}

/// <summary>Cluster tests start several processes each: one at a time, so they do not starve each other of the two cores.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClusterCollection
{
    public const string Name = "cluster processes";
}
