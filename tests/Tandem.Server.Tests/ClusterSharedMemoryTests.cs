namespace Tandem.Server.Tests;

/// <summary>
/// Two workers on one host moving KV through shared memory (<c>--kv-transport shm</c> / <c>auto</c> on the decode
/// worker): the prefill worker writes each payload to a file in /dev/shm, the decode worker maps it. Same output as
/// one process, every pull through shared memory, and no file left once the KV is freed. (Corruption and truncation
/// of those files: <see cref="ClusterFailureTests"/>.)
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterSharedMemoryTests
{
    private const int Requests = 32;
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData("shm")]
    [InlineData("auto")]
    public async Task KV_through_shared_memory_streams_what_one_process_streams_and_leaves_no_file(string transport)
    {
        var expected = await ClusterTests.ReferenceOutputAsync();
        using var cluster = await LocalCluster.StartAsync(1, 1, decodeArguments: ["--kv-transport", transport]);

        var actual = await ClusterWorkload.RunAllAsync(cluster.Http, Requests);

        for (int i = 0; i < Requests; i++)
            Assert.True(expected[i] == actual[i], $"request {i}: expected {expected[i]}, the cluster streamed {actual[i]}");
        var health = await LocalCluster.WorkerHealthAsync(cluster.Decode[0]);
        Assert.Equal(transport, health.GetProperty("kv_transport").GetString());
        Assert.Equal(0, health.GetProperty("kv_pulls_streamed").GetInt32());
        Assert.True(health.GetProperty("kv_pulls_shared_memory").GetInt32() > 0, "no pull went through shared memory");
        await cluster.AssertPoolsEmptyAsync(DrainLimit);
        Assert.Empty(Directory.GetFiles("/dev/shm", $"tandem-kv-{cluster.Prefill[0].Pid}-*"));
    }
}
