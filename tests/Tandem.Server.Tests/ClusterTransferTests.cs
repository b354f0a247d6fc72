namespace Tandem.Server.Tests;

/// <summary>
/// A decode worker pulls KV off its loop: while one request's KV is stuck mid-transfer (a real slow peer holds the
/// pull after its header), the worker's other requests are pulled and decoded to the end; the held one then finishes
/// as one process would have streamed it.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterTransferTests
{
    private const int Held = 2;  // greedy, 75 tokens: decoded after its pull
    private const int Other = 6; // greedy, 103 tokens
    private static readonly TimeSpan WaitLimit = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_decode_worker_keeps_decoding_other_requests_while_a_KV_pull_is_in_flight()
    {
        var expected = await ClusterTests.ReferenceOutputAsync();
        using var prefill = await LocalCluster.StartWorkerAsync("prefill", 0);
        using var decode = await LocalCluster.StartWorkerAsync("decode", 1);
        await using var relay = await HoldingKvRelay.StartAsync(prefill.Address.ToString().TrimEnd('/'), LocalCluster.Token);
        using var frontend = await ServeProcess.StartAsync("--role", "frontend", "--cluster-token", LocalCluster.Token,
            "--prefill-workers", relay.HostPort, "--decode-workers", LocalCluster.HostPort(decode));
        using var http = new HttpClient { BaseAddress = frontend.Address, Timeout = TimeSpan.FromMinutes(2) };
        await LocalCluster.WaitReadyAsync(http, frontend);

        var held = ClusterWorkload.RunAsync(http, ClusterWorkload.Request(Held));
        await Bounded(relay.Holding, "the first request's KV pull never reached the relay");
        var other = ClusterWorkload.RunAsync(http, ClusterWorkload.Request(Other));

        // The held pull ends only when released, or when the decode worker gives it up (its pull timeout): a loop that
        // waits on the transfer decodes nothing else until then.
        var first = await Bounded(Task.WhenAny(other, relay.HeldPullEnded), "neither the other request nor the held pull ended");
        Assert.True(first == other, "the other request finished only after the held KV pull ended: the decode worker's loop waited on the transfer " +
            $"instead of decoding; decode worker stderr: {decode.Stderr}");
        Assert.Equal(expected[Other], await other);

        relay.Release();
        Assert.Equal(expected[Held], await Bounded(held, "the held request did not finish after its pull was released"));
        foreach (var w in new[] { prefill, decode })
            await LocalCluster.AssertPoolEmptyAsync(w, DrainLimit);
    }

    private static async Task<T> Bounded<T>(Task<T> task, string what)
    {
        if (await Task.WhenAny(task, Task.Delay(WaitLimit)) != task) Assert.Fail($"{what} within {WaitLimit.TotalSeconds} s");
        return await task;
    }

    private static async Task Bounded(Task task, string what)
    {
        if (await Task.WhenAny(task, Task.Delay(WaitLimit)) != task) Assert.Fail($"{what} within {WaitLimit.TotalSeconds} s");
        await task;
    }
}
