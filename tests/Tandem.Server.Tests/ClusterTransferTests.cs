using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace Tandem.Server.Tests;

/// <summary>
/// A decode worker pulls KV off its loop: while one request's KV is stuck mid-transfer (a real slow peer holds the
/// pull after its header), the worker's other requests are pulled and decoded to the end, and a request already
/// decoding keeps streaming; the held one then finishes as one process would have streamed it.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterTransferTests(ITestOutputHelper output)
{
    private const int Held = 2;  // greedy, 75 tokens: decoded after its pull
    private const int Other = 6; // greedy, 103 tokens
    private static readonly TimeSpan WaitLimit = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Tokens of the running stream that must arrive while the long prompt's pull is held: more than a loop stuck in the
    /// pull could have had in flight (sampled before it stopped, still on their way to the client) when the hold began.
    /// </summary>
    private const int WindowTokens = 16;

    /// <param name="transport">The decode worker's --kv-transport: the PullKv stream, or a shared-memory file (ShareKv).</param>
    [Theory]
    [InlineData("grpc")]
    [InlineData("shm")]
    public async Task A_running_stream_keeps_streaming_while_a_long_prompts_KV_is_pulled(string transport)
    {
        var running = RunningRequest();
        var longPrompt = LongPromptRequest();
        (string Text, string? Finish) expectedRunning, expectedLong;
        // A model of 2048 tokens' context: the running request is long enough to outlast, by far, the long prompt's way
        // to its pull on a loaded machine (with the 512 of the other tests it had at most ~40 tokens left at load 35-47).
        string[] model = ["--model", TestRuntimes.LongContextModelPath];
        string[] served = ["--served-model-name", RunningServer.ModelName];
        using (var all = await ServeProcess.StartAsync(["--role", "all", "--cores-per-instance", "1", .. model, .. served]))
        using (var reference = new HttpClient { BaseAddress = all.Address, Timeout = TimeSpan.FromMinutes(2) })
        {
            expectedRunning = await ClusterWorkload.RunAsync(reference, running);
            expectedLong = await ClusterWorkload.RunAsync(reference, longPrompt);
        }
        using var prefill = await LocalCluster.StartWorkerAsync("prefill", 0, model);
        using var decode = await LocalCluster.StartWorkerAsync("decode", 1, ["--kv-transport", transport, .. model]);
        // From Intercept on: this test's warm-up request's pull and the running request's pass; the long prompt's (the third)
        // stops midway.
        await using var relay = await HoldingKvRelay.StartAsync(prefill.Address.ToString().TrimEnd('/'), LocalCluster.Token, holdPull: 3);
        using var frontend = await ServeProcess.StartAsync(["--role", "frontend", "--cluster-token", LocalCluster.Token,
            "--prefill-workers", relay.HostPort, "--decode-workers", LocalCluster.HostPort(decode), .. model, .. served]);
        using var http = new HttpClient { BaseAddress = frontend.Address, Timeout = TimeSpan.FromMinutes(2) };
        await LocalCluster.WaitReadyAsync(http, frontend);
        // The frontend's warm-up went through the relay before it said it was ready; the fault is for this test's requests
        // (warm-up kept on: the test covers the default start-up).
        relay.Intercept();
        // Every process's (and the relay's) first request is slow with compiling; the running request must outlast the
        // long prompt's way to its pull, so that way is warm.
        Assert.Equal("length", (await ClusterWorkload.RunAsync(http, WarmUpRequest())).Finish);

        var watched = WatchedCompletion.Start(http, running);
        // The first token comes from the prefill worker; the second is the decode worker's first step.
        await Bounded(watched.Reached(2), "the running request never reached its first decode step");
        var held = ClusterWorkload.RunAsync(http, longPrompt);
        await Bounded(relay.Holding, "the long prompt's KV pull never reached the relay");
        int atHold = watched.Chunks;
        Assert.False(watched.Result.IsCompleted, "the running request ended before the long prompt's pull began: nothing was observed");

        // The held pull ends only when released, or when the decode worker gives it up (its pull timeout): a loop that
        // waits on the transfer streams nothing more of the running request until then.
        await Bounded(Task.WhenAny(watched.Reached(atHold + WindowTokens), relay.HeldPullEnded), "neither the running stream went on nor the held pull ended");
        int during = watched.Chunks - atHold;
        bool stillHeld = !relay.HeldPullEnded.IsCompleted;
        output.WriteLine($"{transport}: the running stream had {atHold} chunks when the long prompt's pull was held, and {during} more came while it was held");
        Assert.True(stillHeld && during >= WindowTokens, $"only {during} chunks of the running stream arrived while the long prompt's KV pull " +
            $"was held (held pull {(stillHeld ? "still held" : "ended first")}): the decode loop waited on the transfer; decode worker stderr: {decode.Stderr}");

        relay.Release();
        Assert.Equal(expectedRunning, await Bounded(watched.Result, "the running request did not finish"));
        Assert.Equal(expectedLong, await Bounded(held, "the long prompt did not finish after its pull was released"));
        // The frontend's warm-up pulled too, but a worker leaves a warm-up's pulls out of its counts (GenerateRequest.warm_up).
        var pulls = await LocalCluster.WorkerHealthAsync(decode);
        Assert.Equal(3, pulls.GetProperty(transport == "shm" ? "kv_pulls_shared_memory" : "kv_pulls_streamed").GetInt32());
        foreach (var w in new[] { prefill, decode })
            await LocalCluster.AssertPoolEmptyAsync(w, DrainLimit);
    }

    /// <summary>Greedy and long: it decodes through the whole pull window.</summary>
    private static JsonObject RunningRequest()
    {
        var body = ApiCalls.Completion("Once upon a time", 2000);
        body["stream"] = true;
        body["ignore_eos"] = true;
        return body;
    }

    private static JsonObject WarmUpRequest()
    {
        var body = ApiCalls.Completion("The little dog", 4);
        body["stream"] = true;
        body["ignore_eos"] = true;
        return body;
    }

    /// <summary>380 prompt tokens (24 KV blocks, fixed pseudo-random ids), greedy, a few tokens out.</summary>
    private static JsonObject LongPromptRequest() => ClusterWorkload.TokenIdRequest(380, 4242);

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
        // The frontend's warm-up went through the relay before it said it was ready; the fault is for this test's requests
        // (warm-up kept on: the test covers the default start-up).
        relay.Intercept();

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
