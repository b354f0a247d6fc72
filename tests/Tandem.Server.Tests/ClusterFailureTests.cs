using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using Tandem.Engine.KvCache;
using Tandem.Engine.Tests;
using Tandem.Server.Cluster;
using Tandem.Serving;
using Tandem.Serving.Workers;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Tests;

/// <summary>
/// Failures in a cluster of real processes lose nothing: a decode or prefill worker killed with SIGKILL mid-stream,
/// a corrupted or truncated KV transfer, no worker of a role left, a frontend killed with KV still held; and bad
/// peers (no token, another protocol version, another model) are refused without harm.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterFailureTests
{
    internal const int Requests = 16;
    private const int LongTokens = 160;
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(20);
    internal static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);
    /// <summary>--ctx-size for a request that decodes for seconds (the test model's own context is 512 tokens).</summary>
    private const int LongContext = 2048;
    /// <summary>These tests are about noticing a lost worker: a short heartbeat timeout (LocalCluster's default is 10 s).</summary>
    private static readonly string[] FastDetection = ["--worker-timeout", "2"];

    internal static JsonObject Long(int i) => ClusterWorkload.Request(i, LongTokens);

    private static readonly Dictionary<string, (string Text, string? Finish)[]> _longReferences = [];

    /// <summary>
    /// The <see cref="Long"/> workload's output from one <c>tandem serve --role all</c> process started with
    /// <paramref name="modelArguments"/> (none: the test model), computed once per argument set per test run.
    /// </summary>
    internal static async Task<(string Text, string? Finish)[]> LongReferenceAsync(params string[] modelArguments)
    {
        string key = string.Join('\0', modelArguments);
        if (_longReferences.TryGetValue(key, out var cached)) return cached;
        using var all = await ServeProcess.StartAsync(["--role", "all", "--cores-per-instance", "1", .. modelArguments]);
        using var http = new HttpClient { BaseAddress = all.Address, Timeout = TimeSpan.FromMinutes(2) };
        return _longReferences[key] = await ClusterWorkload.RunAllAsync(http, Requests, Long);
    }

    /// <summary>
    /// A relay that holds the first KV pull until the test lets it go: the request it belongs to stays unfinished on its
    /// decode worker (blocks reserved, nothing decoded) and its KV stays held on the prefill worker, for as long as the
    /// test needs, where polling /health for a request running raced the work (a warm cluster decoded everything
    /// between two polls).
    /// </summary>
    internal static Func<string, Task<KvRelay>> HoldFirstPull => async prefill => await HoldingKvRelay.StartAsync(prefill, LocalCluster.Token);

    [Fact]
    public async Task A_decode_worker_killed_mid_stream_loses_no_token_and_repeats_none()
    {
        var expected = await LongReferenceAsync();
        // A lease far beyond the drain limit below: KV on the prefill worker for requests the killed worker had taken is
        // released by the frontend when it finds that worker lost (the fresh-clone run at cca3d5b once found the prefill
        // worker still holding such a sequence after 20 s: imported, but the dead worker's confirmation never came).
        using var cluster = await LocalCluster.StartAsync(1, 2, workerArguments: ["--kv-lease", "600"], frontendArguments: FastDetection, relay: HoldFirstPull);
        var relay = (HoldingKvRelay)cluster.Relay!;
        // Request 0 alone first: its pull is held, so the worker pulling it surely has it unfinished (its first token,
        // from the prefill worker, already streamed) when it is killed; the rest go to both workers meanwhile.
        var first = ClusterWorkload.RunAsync(cluster.Http, Long(0));
        await relay.Holding.WaitAsync(WaitLimit);
        var victim = await cluster.DecodeWorkerWaitingAsync();
        var rest = ClusterWorkload.RunAllAsync(cluster.Http, Requests - 1, i => Long(i + 1));

        victim.KillHard();
        relay.Release();
        (string Text, string? Finish)[] actual = [await first, .. await rest];

        AssertSame(expected, actual);
        // Found lost by a call it had taken and dropped (it takes a call with its response headers, before any event).
        await WaitForAsync(() => Task.FromResult(cluster.Frontend.Stderr.Contains($"decode worker http://{LocalCluster.HostPort(victim)} is down")),
            "the frontend to find the killed decode worker down");
        // Request 0's KV still waited on the prefill worker when its puller died: the other decode worker pulled it, and it
        // was not prefilled again. Requests the victim was decoding were (its KV died with it), and each such recompute is
        // counted: the frontend's preemption count is exactly the prefills beyond one per request.
        Assert.Equal(1, relay.PrefillsOf(relay.HeldRequestId!));
        await WaitForAsync(async () => await LocalCluster.MetricAsync(cluster.Http, "vllm:num_preemptions_total") == relay.Prefills - Requests,
            $"vllm:num_preemptions_total to equal the prefills repeated ({relay.Prefills} prefill calls for {Requests} requests)");
        await cluster.AssertPoolsEmptyAsync(DrainLimit);
    }

    [Fact]
    public async Task KV_a_killed_decode_worker_imported_but_never_confirmed_is_freed_at_once_not_by_the_lease()
    {
        // The decode worker's confirmation (ReleaseKv) is lost on the way, as when it dies right after importing; the lease
        // is far beyond the wait below, so only the frontend's release on finding the worker lost frees the prefill copy.
        // A context far past the test model's 512 tokens (allowed, with a warning) for a request that decodes for seconds
        // after its import: the worker decoding it is surely still at it when the test looks (below) and kills it. With 480
        // tokens a fast machine could finish between the confirmation dropped and the look; the test then killed the idle
        // worker, and the prefill copy of the finished request was left to the lease.
        string[] longContext = ["--ctx-size", LongContext.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        using var prefill = await LocalCluster.StartWorkerAsync("prefill", 0, ["--kv-lease", "600", .. longContext]);
        using var decode0 = await LocalCluster.StartWorkerAsync("decode", 1, longContext);
        using var decode1 = await LocalCluster.StartWorkerAsync("decode", 1, longContext);
        await using var relay = await ReleaseDroppingKvRelay.StartAsync(prefill.Address.ToString().TrimEnd('/'), LocalCluster.Token);
        using var frontend = await ServeProcess.StartAsync(["--role", "frontend", "--cluster-token", LocalCluster.Token, .. FastDetection, .. longContext,
            "--prefill-workers", relay.HostPort, "--decode-workers", $"{LocalCluster.HostPort(decode0)},{LocalCluster.HostPort(decode1)}"]);
        using var http = new HttpClient { BaseAddress = frontend.Address, Timeout = TimeSpan.FromMinutes(2) };
        await LocalCluster.WaitReadyAsync(http, frontend);
        // The frontend's warm-up went through the relay before it said it was ready: a warm-up release dropped kept its KV to
        // the 600 s lease. From here on the relay drops the confirmation of this test's pull (warm-up kept on: the default).
        relay.Intercept();
        var body = ClusterWorkload.Request(0, LongContext - 16);
        body["ignore_eos"] = true; // long enough to be still decoding when the worker is killed
        // Each decode worker's /health answered once, so the look below does not wait for its first-call compile.
        foreach (var d in new[] { decode0, decode1 }) await WorkerHealthAsync(d);

        var run = ClusterWorkload.RunAsync(http, body);
        await relay.Dropped.WaitAsync(WaitLimit); // imported, confirmation lost
        relay.StopDropping();
        var decoding = (await WorkerHealthAsync(decode0)).GetProperty("kv_blocks_used").GetInt32() > 0 ? decode0 : decode1;
        decoding.KillHard();
        var (text, finish) = await run;

        Assert.Equal("length", finish);
        Assert.Equal(await ClusterWorkload.RunAsync(http, body), (text, finish)); // undisturbed, greedy: the same stream
        await LocalCluster.AssertPoolEmptyAsync(prefill, DrainLimit);
        Assert.Equal(0, (await WorkerHealthAsync(prefill)).GetProperty("kv_lease_expiries").GetInt32());
    }

    [Fact]
    public async Task A_decode_worker_that_takes_calls_and_breaks_them_while_alive_fails_the_request_instead_of_looping()
    {
        // Each dropped call sends the KV, still held by the prefill worker, to a decode worker again; this one answers every
        // heartbeat, so it is never marked down and is picked again each time. Without a bound the request went round for
        // ever (its client waiting, the frontend spinning); now it fails after RemoteRequest.MaxDrops with an error that
        // says so, its KV is freed on the prefill worker, and the next request goes through.
        await using var cluster = await DecodeRelayCluster<DecodeDroppingRelay>.StartAsync(DecodeDroppingRelay.StartAsync);
        var (prefill, relay, http) = (cluster.Prefill, cluster.Relay, cluster.Http);

        var events = await http.StreamAsync("/v1/completions", ClusterWorkload.TokenIdRequest(64, 0)).WaitAsync(WaitLimit);

        Assert.Equal("[DONE]", events[^1]);
        var error = JsonDocument.Parse(events[^2]).RootElement.GetProperty("error");
        Assert.Contains("dropped before its KV came in", error.GetProperty("message").GetString());
        Assert.Equal(RemoteRequest.MaxDrops, relay.Dropped);
        await LocalCluster.AssertPoolEmptyAsync(prefill, DrainLimit);

        relay.StopDropping();
        var next = ClusterWorkload.TokenIdRequest(64, 1);
        next["ignore_eos"] = true;
        var (_, finish) = await ClusterWorkload.RunAsync(http, next);
        Assert.Equal("length", finish);
        Assert.Equal(RemoteRequest.MaxDrops, relay.Dropped);
    }

    [Fact]
    public async Task A_decode_worker_whose_heartbeats_time_out_while_it_streams_tokens_is_not_taken_for_lost()
    {
        // Under a heavy load a worker's status call can miss its deadline while the worker is plainly working: its tokens
        // keep coming. The heartbeat alone took it for lost (seen in full test runs beside busy loops: "no prefill worker
        // is left"), cancelling its requests: each prefilled again, or failed when no other worker was left. Tokens now count
        // as signs of life: the request goes through once, and no worker is marked down.
        await using var cluster = await DecodeRelayCluster<StatusStallingRelay>.StartAsync(StatusStallingRelay.StartAsync);
        var (prefill, relay, http) = (cluster.Prefill, cluster.Relay, cluster.Http);

        // 240 tokens at one per 25 ms at least: 6 s of streaming, three times the 2 s worker timeout, so heartbeats expire
        // during it however late a loaded machine starts them (the pace, not the machine's speed, sets the length).
        var body = ClusterWorkload.TokenIdRequest(64, 0);
        body["max_tokens"] = 240;
        body["ignore_eos"] = true;
        var (_, finish) = await ClusterWorkload.RunAsync(http, body).WaitAsync(WaitLimit);

        Assert.Equal("length", finish);
        Assert.True(relay.Expired >= 1, "no heartbeat expired during the stream: the test did not test anything");
        // Taken for lost, its stream was cancelled and the request prefilled again: a recompute the client never sees
        // (its text is the same) but the cluster pays for; none here.
        Assert.DoesNotContain("is down", cluster.Frontend.Stderr);
        Assert.Equal(0, await LocalCluster.MetricAsync(http, "vllm:num_preemptions_total"));
        await LocalCluster.AssertPoolEmptyAsync(prefill, DrainLimit);
    }

    [Fact]
    public async Task A_KV_release_that_times_out_is_sent_again_and_frees_the_KV_long_before_the_lease()
    {
        // The decode worker's confirmation after its import fails once as a deadline passed (what a release sees under heavy
        // load); the lease is far beyond the wait below, so only a second try frees the prefill copy in time.
        var expected = await ClusterTests.ReferenceOutputAsync();
        using var prefill = await LocalCluster.StartWorkerAsync("prefill", 0, ["--kv-lease", "600"]);
        using var decode = await LocalCluster.StartWorkerAsync("decode", 1);
        await using var relay = await ReleaseDroppingKvRelay.StartAsync(prefill.Address.ToString().TrimEnd('/'), LocalCluster.Token, failOnceWith: StatusCode.DeadlineExceeded);
        using var frontend = await ServeProcess.StartAsync("--role", "frontend", "--cluster-token", LocalCluster.Token,
            "--prefill-workers", relay.HostPort, "--decode-workers", LocalCluster.HostPort(decode));
        using var http = new HttpClient { BaseAddress = frontend.Address, Timeout = TimeSpan.FromMinutes(2) };
        await LocalCluster.WaitReadyAsync(http, frontend);
        relay.Intercept(); // the warm-up's releases passed; this test's first one fails

        Assert.Equal(expected[2], await ClusterWorkload.RunAsync(http, ClusterWorkload.Request(2))); // 75 tokens: its KV is pulled
        await relay.Dropped.WaitAsync(WaitLimit);

        await LocalCluster.AssertPoolEmptyAsync(prefill, DrainLimit, decode, frontend);
        Assert.Equal(0, (await WorkerHealthAsync(prefill)).GetProperty("kv_lease_expiries").GetInt32());
    }

    [Fact]
    public async Task A_prefill_worker_killed_sends_its_requests_to_another()
    {
        var expected = await LongReferenceAsync();
        // The first KV pull from the first prefill worker is held mid-transfer: that worker surely holds a request's KV, and
        // the decode worker blocks reserved for it, when it is killed; the workload's prompts go to both prefill workers (the
        // shortest queue), so one reaches it. (Polling its /health for work raced the workload: on a fast machine every
        // prefill was done and pulled between two 20 ms polls, the fresh-clone CI run at a76a90a.) The decode worker's KV
        // holds two or three of these requests at a time, so other finished prefills wait there too (prefill memory is the
        // queue) and the killed worker takes more than the held one with it.
        // An 8-second KV lease: a fresh-clone CI run (3c95c56, 2 cores) once found the surviving prefill worker still holding
        // one sequence 20 s after the kill. KV whose pull nobody will make (its request moved on, e.g. after the 2-second
        // worker timeout took a loaded worker for lost) is freed by the lease, which is what the lease is for; with the
        // 30 s default that came after the drain limit. Leaks the lease cannot free (blocks in use) still fail below.
        using var cluster = await LocalCluster.StartAsync(2, 1, workerArguments: ["--kv-lease", "8"], frontendArguments: FastDetection,
            decodeArguments: ["--kv-memory", "320KiB"], relay: HoldFirstPull);
        var relay = (HoldingKvRelay)cluster.Relay!;
        var run = ClusterWorkload.RunAllAsync(cluster.Http, Requests, Long);
        await relay.Holding.WaitAsync(WaitLimit);

        cluster.Prefill[0].KillHard();
        relay.Release(); // the held pull now reads from a dead worker: it fails, and its request is recomputed
        var actual = await run;

        AssertSame(expected, actual);
        await cluster.AssertPoolsEmptyAsync(DrainLimit);
    }

    [Theory]
    [InlineData("grpc")]
    [InlineData("shm")]
    public async Task Corrupted_or_truncated_KV_is_detected_by_the_checksum_and_recomputed(string transport)
    {
        var expected = await ClusterTests.ReferenceOutputAsync();
        var prefill = await LocalCluster.StartWorkerAsync("prefill", 0);
        var decode = await LocalCluster.StartWorkerAsync("decode", 1, ["--kv-transport", transport]);
        await using var relay = await CorruptingKvRelay.StartAsync(prefill.Address.ToString().TrimEnd('/'), LocalCluster.Token);
        using var frontend = await ServeProcess.StartAsync("--role", "frontend", "--cluster-token", LocalCluster.Token,
            "--prefill-workers", $"{relay.Address.Host}:{relay.Address.Port}", "--decode-workers", LocalCluster.HostPort(decode));
        using var _ = prefill;
        using var __ = decode;
        using var http = new HttpClient { BaseAddress = frontend.Address, Timeout = TimeSpan.FromMinutes(2) };
        await LocalCluster.WaitReadyAsync(http, frontend);
        // The frontend's warm-up pulled through the relay before it said it was ready: damaging those pulls would have had the
        // warm-up recompute, not this test's requests. From here on the relay damages (warm-up kept on: the default).
        relay.Intercept();

        // One at a time, so the damaged pulls are those of the first requests that reach decode.
        var actual = new List<(string, string?)>();
        for (int i = 0; i < 8; i++) actual.Add(await ClusterWorkload.RunAsync(http, ClusterWorkload.Request(i)));

        Assert.Equal(2, relay.Damaged);
        AssertSame(expected[..8], [.. actual]);
        Assert.Contains("checksum mismatch", decode.Stderr);
        Assert.Contains("truncated", decode.Stderr);
        var pulls = await WorkerHealthAsync(decode);
        int streamed = pulls.GetProperty("kv_pulls_streamed").GetInt32(), shared = pulls.GetProperty("kv_pulls_shared_memory").GetInt32();
        Assert.True(transport == "shm" ? streamed == 0 && shared > 0 : streamed > 0 && shared == 0, $"{streamed} pulls streamed and {shared} through shared memory with --kv-transport {transport}");
        foreach (var w in new[] { prefill, decode })
            await AssertEmptyAsync(w);
    }

    [Fact]
    public async Task With_no_decode_worker_left_clients_get_an_error_and_new_requests_503_until_a_restarted_one_rejoins()
    {
        // Every stream surely unfinished when the worker dies: the first pull is held, and the decode worker's 32 blocks
        // (320 KiB) leave the other 380-token prompts (24 blocks each) waiting behind it for room.
        using var cluster = await LocalCluster.StartAsync(1, 1, frontendArguments: FastDetection, decodeArguments: ["--kv-memory", "320KiB"], relay: HoldFirstPull);
        var streams = new List<Task<List<string>>> { cluster.Http.StreamAsync("/v1/completions", ClusterWorkload.TokenIdRequest(380, 0)) };
        await ((HoldingKvRelay)cluster.Relay!).Holding.WaitAsync(WaitLimit);
        streams.AddRange(Enumerable.Range(1, 3).Select(i => cluster.Http.StreamAsync("/v1/completions", ClusterWorkload.TokenIdRequest(380, i))));
        await WaitForAsync(async () => (await WorkerHealthAsync(cluster.Decode[0])).GetProperty("waiting").GetInt32() == streams.Count, "every request waiting on the decode worker");
        int port = cluster.Decode[0].Address.Port;

        cluster.Decode[0].KillHard();

        foreach (var s in streams)
        {
            var events = await s;
            Assert.Equal("[DONE]", events[^1]);
            var error = JsonDocument.Parse(events[^2]).RootElement.GetProperty("error");
            Assert.Contains("no decode worker is left", error.GetProperty("message").GetString());
        }
        // It had taken these calls (its response headers came), so the calls it dropped mark it down; one it had not taken yet
        // has it taken as draining (a refusal) until the heartbeat timeout. Either way it takes no new work: 503 from then on.
        await WaitForAsync(async () => (await cluster.Http.GetAsync("/health/ready")).StatusCode == HttpStatusCode.ServiceUnavailable, "the frontend to find the decode worker gone");
        var refused = await cluster.Http.PostAsync("/v1/completions", ApiCalls.Completion("Once upon a time", 8));
        ApiCalls.AssertError(refused, HttpStatusCode.ServiceUnavailable, code: "no_workers", type: "unavailable_error");
        Assert.Contains("no decode worker is taking requests", refused.Body.GetProperty("error").GetProperty("message").GetString());
        using (var ready = await cluster.Http.GetAsync("/health/ready"))
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);

        // The same address comes back (a restarted pod behind the same name): it rejoins, and work flows again.
        using var restarted = await ServeProcess.StartAsync("--role", "decode", "--cluster-token", LocalCluster.Token, "--cores", "1", "--port", port.ToString());
        await cluster.WaitReadyAsync();
        var (text, finish) = await ClusterWorkload.RunAsync(cluster.Http, ClusterWorkload.Request(0, 20));
        Assert.Equal("length", finish);
        Assert.NotEmpty(text);
        await AssertEmptyAsync(restarted);
        await AssertEmptyAsync(cluster.Prefill[0]);
    }

    [Fact]
    public async Task A_killed_frontend_leaves_no_KV_on_workers_beyond_the_lease()
    {
        using var cluster = await LocalCluster.StartAsync(1, 1, workerArguments: ["--kv-lease", "1"], frontendArguments: FastDetection, relay: HoldFirstPull);
        var relay = (HoldingKvRelay)cluster.Relay!;
        var streams = Enumerable.Range(0, 8).Select(i => cluster.Http.StreamAsync("/v1/completions", Long(i))).ToList();
        // KV surely on both workers when the frontend dies: the held pull's on the prefill worker, its reserved blocks on the decode worker.
        await relay.Holding.WaitAsync(WaitLimit);

        cluster.Frontend.KillHard();
        // Never let go: the decode worker gives the pull up itself when the frontend's call goes away (seen once at 18:07 on
        // 2026-12-03 to keep it past 20 s, at load 30 with an older relay; not seen again in 8 runs, 6 beside two busy loops).
        await relay.HeldPullEnded.WaitAsync(DrainLimit);

        await cluster.AssertPoolsEmptyAsync(DrainLimit);
        foreach (var s in streams) await Assert.ThrowsAnyAsync<Exception>(() => s); // their frontend died
    }

    [Fact]
    public async Task A_decode_worker_whose_frontend_died_abandons_its_stalled_KV_pull_and_frees_both_sides()
    {
        // The relay holds the pull and is never let go; the lease is far beyond the wait below. Only the decode worker
        // giving the pull up when its frontend's call goes away (and releasing the KV it no longer wants) frees either pool.
        using var cluster = await LocalCluster.StartAsync(1, 1, workerArguments: ["--kv-lease", "600"], relay: HoldFirstPull);
        var relay = (HoldingKvRelay)cluster.Relay!;
        var stream = cluster.Http.StreamAsync("/v1/completions", Long(0));
        await relay.Holding.WaitAsync(WaitLimit);
        Assert.True((await WorkerHealthAsync(cluster.Decode[0])).GetProperty("kv_blocks_used").GetInt32() > 0, "the decode worker reserved no blocks for the held pull");

        cluster.Frontend.KillHard();

        await relay.HeldPullEnded.WaitAsync(DrainLimit); // the decode worker cancelled the held call itself
        await cluster.AssertPoolsEmptyAsync(DrainLimit);
        await Assert.ThrowsAnyAsync<Exception>(() => stream); // its frontend died
    }

    [Fact]
    public async Task A_decode_worker_says_it_took_a_call_before_any_event_and_gives_up_a_pull_from_a_silent_holder_when_the_call_goes()
    {
        using var decode = await LocalCluster.StartWorkerAsync("decode", 0);
        // A "prefill worker" that takes connections and never answers: the decode worker's pull waits on it (for up to its
        // 60 s deadline), so no event can come meanwhile.
        var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var connections = new List<TcpClient>();
        var accepting = Task.Run(async () =>
        {
            try { while (true) { var c = await silent.AcceptTcpClientAsync(); lock (connections) connections.Add(c); } }
            catch (Exception) { } // stopped
        });
        try
        {
            using var channels = new ClusterChannels(new ClusterToken(LocalCluster.Token));
            var client = channels.Worker(decode.Address.ToString().TrimEnd('/'));
            var request = new Proto.GenerateRequest
            {
                RequestId = "taken", MaxTokens = 4, Sampling = new Proto.Sampling { Seed = 1, TopP = 1, RepetitionPenalty = 1, PenaltyLastN = 64 },
                Kv = new Proto.KvLocation { Address = $"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}", KvId = "taken/0", Tokens = 4 },
            };
            request.TokenIds.Add([1, 30, 40, 50, 60]);
            using var cancel = new CancellationTokenSource();
            using var call = client.Decode(request, cancellationToken: cancel.Token);

            // Taken: the response headers come at once, before any event (the frontend then knows a broken call was taken).
            await call.ResponseHeadersAsync.WaitAsync(WaitLimit);
            var firstEvent = call.ResponseStream.MoveNext(CancellationToken.None);
            await WaitForAsync(async () => (await WorkerHealthAsync(decode)).GetProperty("kv_blocks_used").GetInt32() > 0, "the decode worker to reserve the blocks and pull");
            Assert.False(firstEvent.IsCompleted, "an event came while the pull waited on a holder that never answers");

            cancel.Cancel(); // the frontend's call goes away: the pull is given up and its blocks freed, the holder still silent
            await Assert.ThrowsAnyAsync<Exception>(() => firstEvent);
            await LocalCluster.AssertPoolEmptyAsync(decode, DrainLimit);
        }
        finally
        {
            silent.Stop();
            await accepting;
            lock (connections) foreach (var c in connections) c.Dispose();
        }
    }

    [Fact]
    public async Task Held_KV_that_no_one_pulls_is_freed_when_the_lease_ends()
    {
        using var prefill = await LocalCluster.StartWorkerAsync("prefill", 0, ["--kv-lease", "1"]);
        using var channels = new ClusterChannels(new ClusterToken(LocalCluster.Token));
        var client = channels.Worker(prefill.Address.ToString().TrimEnd('/'));
        var request = new Proto.GenerateRequest { RequestId = "held", MaxTokens = 4, Sampling = new Proto.Sampling { Seed = 1, TopP = 1, RepetitionPenalty = 1, PenaltyLastN = 64 } };
        request.TokenIds.Add([1, 30, 40, 50, 60]);
        using var call = client.Prefill(request);
        Proto.KvHeld? held = null;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
            if (call.ResponseStream.Current.KvHeld is { } h) held = h;
        Assert.NotNull(held);
        Assert.Equal(5, held.Tokens);
        Assert.Equal(1, (await WorkerHealthAsync(prefill)).GetProperty("kv_held").GetInt32());

        await WaitForAsync(async () => (await WorkerHealthAsync(prefill)).GetProperty("kv_lease_expiries").GetInt32() == 1, "the lease ending");
        await AssertEmptyAsync(prefill);
        var pull = Assert.Throws<RpcException>(() => ReadAll(client.PullKv(new Proto.PullKvRequest { KvId = held.KvId })));
        Assert.Equal(StatusCode.NotFound, pull.StatusCode);
    }

    private static void ReadAll(AsyncServerStreamingCall<Proto.KvChunk> call)
    {
        using (call)
            while (call.ResponseStream.MoveNext(CancellationToken.None).GetAwaiter().GetResult()) { }
    }

    [Fact]
    public async Task A_worker_refuses_peers_without_the_token_of_another_protocol_version_or_another_model_and_keeps_serving()
    {
        using var worker = await LocalCluster.StartWorkerAsync("decode", 0);
        string address = worker.Address.ToString().TrimEnd('/');
        var (high, low) = Fingerprint((await WorkerHealthAsync(worker)).GetProperty("model_fingerprint").GetString()!);

        using (var strangers = new ClusterChannels(new ClusterToken("not-the-token")))
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => strangers.Worker(address).StatusAsync(new Proto.StatusRequest()).ResponseAsync);
            Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
            Assert.Contains("cluster token", e.Status.Detail);
        }
        using var channels = new ClusterChannels(new ClusterToken(LocalCluster.Token));
        var client = channels.Worker(address);
        var version = await Assert.ThrowsAsync<RpcException>(() =>
            client.HelloAsync(new Proto.HelloRequest { ProtocolVersion = 99, ModelFingerprintHigh = high, ModelFingerprintLow = low }).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, version.StatusCode);
        Assert.Contains("protocol version 99", version.Status.Detail);
        var model = await Assert.ThrowsAsync<RpcException>(() =>
            client.HelloAsync(new Proto.HelloRequest { ProtocolVersion = ClusterProtocol.Version, ModelFingerprintHigh = high ^ 1, ModelFingerprintLow = low }).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, model.StatusCode);
        Assert.Contains("another model", model.Status.Detail);

        var hello = await client.HelloAsync(new Proto.HelloRequest { ProtocolVersion = ClusterProtocol.Version, ModelFingerprintHigh = high, ModelFingerprintLow = low });
        Assert.Equal("decode", hello.Role);
        await AssertEmptyAsync(worker);
    }

    [Fact]
    public async Task Workers_of_another_model_are_refused_and_a_worker_registering_with_the_frontend_joins()
    {
        string other = TestPaths.Model("tinyllama-v0-q4_0.gguf");
        using var prefill = await LocalCluster.StartWorkerAsync("prefill", 0);
        using var listedStranger = await LocalCluster.StartWorkerAsync("decode", 1, ["--model", other]);
        using var frontend = await ServeProcess.StartAsync("--role", "frontend", "--cluster-token", LocalCluster.Token, "--worker-timeout", "2",
            "--prefill-workers", LocalCluster.HostPort(prefill), "--decode-workers", LocalCluster.HostPort(listedStranger));
        using var http = new HttpClient { BaseAddress = frontend.Address, Timeout = TimeSpan.FromMinutes(2) };
        await WaitForAsync(() => Task.FromResult(frontend.Stderr.Contains("runs another model")), "the frontend refusing the listed worker");
        // The stranger can be refused before the (good) prefill worker's handshake is done, and readiness names the
        // prefill role first: wait for the prefill worker, then the one thing missing is a decode worker.
        string readiness = "";
        await WaitForAsync(async () =>
        {
            using var ready = await http.GetAsync("/health/ready");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            readiness = await ready.Content.ReadAsStringAsync();
            return !readiness.Contains("no prefill worker");
        }, "the prefill worker connecting");
        Assert.Contains("no decode worker", readiness);

        string frontendUrl = frontend.Address.ToString().TrimEnd('/');
        using var registeringStranger = await LocalCluster.StartWorkerAsync("decode", 1, ["--model", other, "--frontend", frontendUrl]);
        await WaitForAsync(() => Task.FromResult(registeringStranger.Stderr.Contains("refused this worker")), "the frontend refusing the registering worker");
        Assert.Contains("another model", registeringStranger.Stderr);

        using var registering = await LocalCluster.StartWorkerAsync("decode", 1, ["--frontend", frontendUrl]);
        await LocalCluster.WaitReadyAsync(http, frontend);
        var (text, finish) = await ClusterWorkload.RunAsync(http, ClusterWorkload.Request(0, 12));
        Assert.Equal("length", finish);
        Assert.NotEmpty(text);
        await AssertEmptyAsync(registering);
    }

    [Fact]
    public async Task A_decode_worker_whose_loop_died_gets_no_more_work_and_the_frontend_answers_503_until_a_live_one_joins()
    {
        var expected = await ClusterTests.ReferenceOutputAsync();
        using var prefill = await LocalCluster.StartWorkerAsync("prefill", 0);
        // The dying worker runs in this process (the real worker runtime and gRPC server, on loopback), where its loop
        // can be broken through the runtime's fault hook; F16 KV as `tandem serve` keeps by default, like its peers.
        await using var dying = WorkerRuntime.Start(new ServingOptions
        {
            ModelPath = TestRuntimes.ModelPath,
            KvElementType = KvElementType.F16,
            CoresPerInstance = 1,
            OnWarning = _ => { },
        }, WorkerRole.Decode, TimeSpan.FromSeconds(30));
        await using var dyingServer = WorkerServer.Create(dying, new WorkerServerOptions { Port = 0, Token = new ClusterToken(LocalCluster.Token), Log = _ => { } });
        await dyingServer.StartAsync();
        using var frontend = await ServeProcess.StartAsync("--role", "frontend", "--cluster-token", LocalCluster.Token, "--worker-timeout", "2",
            "--prefill-workers", LocalCluster.HostPort(prefill), "--decode-workers", $"{dyingServer.Address.Host}:{dyingServer.Address.Port}");
        using var http = new HttpClient { BaseAddress = frontend.Address, Timeout = TimeSpan.FromMinutes(2) };
        await LocalCluster.WaitReadyAsync(http, frontend);
        Assert.Equal(expected[2], await ClusterWorkload.RunAsync(http, ClusterWorkload.Request(2)));

        dying.InjectLoopFault(() => throw new InvalidOperationException("injected fault"));

        // Its heartbeats still answer, but its status says the loop died: the frontend routes nothing more there.
        string readiness = "";
        await WaitForAsync(async () =>
        {
            using var ready = await http.GetAsync("/health/ready");
            readiness = await ready.Content.ReadAsStringAsync();
            return ready.StatusCode == HttpStatusCode.ServiceUnavailable;
        }, "the frontend to stop counting the decode worker whose loop died");
        Assert.Contains("no decode worker", readiness);
        Assert.Contains("injected fault", frontend.Stderr);
        var refused = await http.PostAsync("/v1/completions", ApiCalls.Completion("Once upon a time", 8));
        ApiCalls.AssertError(refused, HttpStatusCode.ServiceUnavailable, code: "no_workers", type: "unavailable_error");
        using (var health = await http.GetAsync(new Uri(dyingServer.Address, "/health")))
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);

        // A live decode worker registers: work flows again, all of it there.
        using var live = await LocalCluster.StartWorkerAsync("decode", 1, ["--frontend", frontend.Address.ToString().TrimEnd('/')]);
        await LocalCluster.WaitReadyAsync(http, frontend);
        for (int i = 2; i < 6; i++)
            Assert.Equal(expected[i], await ClusterWorkload.RunAsync(http, ClusterWorkload.Request(i)));
        await AssertEmptyAsync(prefill);
        await AssertEmptyAsync(live);
    }

    private static void AssertSame((string Text, string? Finish)[] expected, (string Text, string? Finish)[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(expected[i] == actual[i], $"request {i}: expected {expected[i]}, the cluster streamed {actual[i]}");
    }

    private static (ulong High, ulong Low) Fingerprint(string hex) =>
        (Convert.ToUInt64(hex[..16], 16), Convert.ToUInt64(hex[16..], 16));

    private static Task<JsonElement> WorkerHealthAsync(ServeProcess worker) => LocalCluster.WorkerHealthAsync(worker);

    private static Task AssertEmptyAsync(ServeProcess worker) => LocalCluster.AssertPoolEmptyAsync(worker, WaitLimit);

    internal static async Task WaitForAsync(Func<Task<bool>> condition, string what, TimeSpan? limit = null)
    {
        var until = DateTime.UtcNow + (limit ?? WaitLimit);
        while (!await condition())
        {
            if (DateTime.UtcNow > until) Assert.Fail($"gave up waiting for {what}");
            await Task.Delay(20);
        }
    }

    /// <summary>
    /// A real prefill worker, a real decode worker behind a relay of type <typeparamref name="T"/> (listed to the frontend as
    /// the decode worker), and a frontend with fast failure detection, ready, the relay intercepting from then on (the
    /// frontend's warm-up went through untouched).
    /// </summary>
    private sealed class DecodeRelayCluster<T> : IAsyncDisposable where T : KvRelay
    {
        public required ServeProcess Prefill { get; init; }
        public required ServeProcess Decode { get; init; }
        public required T Relay { get; init; }
        public required ServeProcess Frontend { get; init; }
        public required HttpClient Http { get; init; }

        public static async Task<DecodeRelayCluster<T>> StartAsync(Func<string, string, Task<T>> startRelay)
        {
            var prefill = await LocalCluster.StartWorkerAsync("prefill", 0);
            var decode = await LocalCluster.StartWorkerAsync("decode", 1);
            var relay = await startRelay(decode.Address.ToString().TrimEnd('/'), LocalCluster.Token);
            var frontend = await ServeProcess.StartAsync(["--role", "frontend", "--cluster-token", LocalCluster.Token, .. FastDetection,
                "--prefill-workers", LocalCluster.HostPort(prefill), "--decode-workers", relay.HostPort]);
            var cluster = new DecodeRelayCluster<T>
            {
                Prefill = prefill, Decode = decode, Relay = relay, Frontend = frontend,
                Http = new HttpClient { BaseAddress = frontend.Address, Timeout = TimeSpan.FromMinutes(2) },
            };
            try
            {
                await LocalCluster.WaitReadyAsync(cluster.Http, frontend);
            }
            catch
            {
                await cluster.DisposeAsync(); // no worker processes left behind by a frontend that never got ready
                throw;
            }
            relay.Intercept();
            return cluster;
        }

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            Frontend.Dispose();
            await Relay.DisposeAsync();
            Decode.Dispose();
            Prefill.Dispose();
        }
    }
}
