using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tandem.Planning.Profiles;
using Tandem.Server.Admission;
using Tandem.Serving;

namespace Tandem.Server.Tests;

/// <summary>
/// Admission control on a real server: --max-waiting-requests and --slo-ttft refuse with 429 and Retry-After at once,
/// --request-timeout ends a request with "abort" and frees its KV. An instance loop is held (a test hook blocks it)
/// so requests stay waiting exactly as long as the test needs, with no timing guess.
/// </summary>
public sealed class AdmissionTests
{
    /// <summary>The instance these 5-token prompts go to: disaggregated, the decode instance prefills them (the default local prefill threshold).</summary>
    private static string Entry(string mode) => mode == "disaggregated" ? "decode-0" : "colocated-0";

    private static JsonObject Request(int maxTokens = 4) => ApiCalls.Completion(References.OnceUponATime, maxTokens);

    private static async Task<(HttpStatusCode Status, string? RetryAfter, JsonElement Body)> PostRawAsync(HttpClient http, JsonObject body)
    {
        using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await http.PostAsync("/v1/completions", content);
        string? retry = response.Headers.TryGetValues("Retry-After", out var v) ? v.Single() : null;
        return (response.StatusCode, retry, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        for (int i = 0; i < 600 && !condition(); i++) await Task.Delay(50);
        Assert.True(condition(), $"still not true after 30 s: {what}");
    }

    private static async Task<double> MetricAsync(HttpClient http, string line)
    {
        string text = await http.GetStringAsync("/metrics");
        var match = text.Split('\n').FirstOrDefault(l => l.StartsWith(line, StringComparison.Ordinal));
        return match is null ? 0 : double.Parse(match[(match.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Theory]
    [InlineData("disaggregated")]
    [InlineData("colocated")]
    [InlineData("chunked")]
    public async Task Past_max_waiting_requests_a_request_gets_429_at_once_and_the_others_finish(string mode)
    {
        await using var server = await RunningServer.StartAsync(mode, configure: o => o.MaxWaitingRequests = 2);
        var runtime = (ServingRuntime)server.Engine;
        using var gate = new ManualResetEventSlim(false);
        runtime.InjectLoopFault(Entry(mode), () => gate.Wait());
        Task<ApiCalls.Reply>[] admitted;
        try
        {
            admitted = [server.Http.PostAsync("/v1/completions", Request()), server.Http.PostAsync("/v1/completions", Request())];
            await WaitUntilAsync(() => server.Server.Api.Admission.Waiting == 2, "two requests admitted");
            var (status, retryAfter, body) = await PostRawAsync(server.Http, Request());
            ApiCalls.AssertError(new ApiCalls.Reply(status, body), HttpStatusCode.TooManyRequests, code: "max_waiting_requests", type: "rate_limit_error");
            Assert.True(int.Parse(retryAfter!) >= 1);
            Assert.Equal(2, server.Server.Api.Admission.Waiting); // the refused one never counted
        }
        finally
        {
            runtime.InjectLoopFault(Entry(mode), null);
            gate.Set();
        }
        foreach (var reply in await Task.WhenAll(admitted))
            Assert.Equal(HttpStatusCode.OK, reply.Status);
        Assert.Equal(0, server.Server.Api.Admission.Waiting);
        Assert.Equal(HttpStatusCode.OK, (await server.Http.PostAsync("/v1/completions", Request())).Status);
        Assert.Equal(1, await MetricAsync(server.Http, "tandem:requests_refused_total{model_name=\"stories260K\",reason=\"max_waiting_requests\"}"));
        Assert.True(await MetricAsync(server.Http, "tandem:http_responses_total{model_name=\"stories260K\",status_class=\"4xx\"}") >= 1);
    }

    [Fact]
    public async Task A_request_that_cannot_meet_the_ttft_slo_behind_the_queue_is_refused_with_retry_after()
    {
        // One second per prompt token: the 5-token prompt alone is estimated at 5 s, two at 10 s.
        var profile = new ConfigLatency { Tp = 1, Prefill = new StepCoefficients(0, 1, 0), Decode = [new DecodePiece(null, new StepCoefficients(0.001, 0, 0))] };
        await using var server = await RunningServer.StartAsync("colocated", configure: o => { o.SloTtft = TimeSpan.FromSeconds(2); o.PrefillProfile = profile; });
        var runtime = (ServingRuntime)server.Engine;
        using var gate = new ManualResetEventSlim(false);
        runtime.InjectLoopFault("colocated-0", () => gate.Wait());
        Task<ApiCalls.Reply> first;
        try
        {
            first = server.Http.PostAsync("/v1/completions", Request()); // alone: let in whatever its estimate
            await WaitUntilAsync(() => server.Server.Api.Admission.Waiting == 1, "the first request admitted");
            var (status, retryAfter, body) = await PostRawAsync(server.Http, Request());
            ApiCalls.AssertError(new ApiCalls.Reply(status, body), HttpStatusCode.TooManyRequests, code: "slo_ttft", type: "rate_limit_error");
            Assert.Equal("8", retryAfter); // estimated 10 s against the 2 s target
        }
        finally
        {
            runtime.InjectLoopFault("colocated-0", null);
            gate.Set();
        }
        Assert.Equal(HttpStatusCode.OK, (await first).Status);
        Assert.Equal(1, await MetricAsync(server.Http, "tandem:requests_refused_total{model_name=\"stories260K\",reason=\"slo_ttft\"}"));
    }

    [Fact]
    public void The_live_estimate_is_busy_seconds_per_token_of_the_entry_instances()
    {
        static ServingSnapshot Snapshot(double busy, long tokens) => new()
        {
            Instances =
            [
                new InstanceSnapshot { Name = "prefill-0", Role = "prefill", Waiting = 0, WaitingTokens = 0, Running = 0, KvBlocksUsed = 0, KvBlocksTotal = 1, BusySeconds = busy, TokensComputed = tokens },
                new InstanceSnapshot { Name = "decode-0", Role = "decode", Waiting = 0, WaitingTokens = 0, Running = 0, KvBlocksUsed = 0, KvBlocksTotal = 1, BusySeconds = 50, TokensComputed = 10 },
            ],
        };
        var live = new LivePrefillCost();
        Assert.Null(live.Seconds(1, 100, 0));
        live.Observe(Snapshot(2, 1000)); // 2 ms per token; decode instances do not count
        Assert.Equal(0.2, live.Seconds(1, 100, 0)!.Value, 9);
        live.Observe(Snapshot(2.01, 1010)); // too few new tokens to judge from
        Assert.Equal(0.2, live.Seconds(1, 100, 0)!.Value, 9);
        live.Observe(Snapshot(6, 2000)); // 4 ms per token over the last 1000, smoothed in
        Assert.Equal(100 * (0.002 + 0.3 * (0.004 - 0.002)), live.Seconds(1, 100, 0)!.Value, 9);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Request_timeout_ends_a_long_request_with_abort_and_frees_its_kv(bool stream)
    {
        await using var server = await RunningServer.StartAsync("colocated", configure: o => o.RequestTimeout = TimeSpan.FromSeconds(0.3));
        var runtime = (ServingRuntime)server.Engine;
        // Each loop iteration takes at least 10 ms: 400 tokens take at least 4 s, far past the 0.3 s timeout.
        runtime.InjectLoopFault("colocated-0", () => Thread.Sleep(10));
        var body = Request(400);
        body["ignore_eos"] = true;
        string finish;
        if (stream)
        {
            body["stream"] = true;
            var events = await server.Http.StreamAsync("/v1/completions", body);
            Assert.Equal("[DONE]", events[^1]);
            finish = JsonDocument.Parse(events[^2]).RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString()!;
        }
        else
        {
            var reply = await server.Http.PostAsync("/v1/completions", body);
            Assert.Equal(HttpStatusCode.OK, reply.Status);
            finish = reply.Body.GetProperty("choices")[0].GetProperty("finish_reason").GetString()!;
            Assert.True(reply.Body.GetProperty("usage").GetProperty("completion_tokens").GetInt32() < 400);
        }
        Assert.Equal("abort", finish);
        runtime.InjectLoopFault("colocated-0", null);
        await WaitUntilAsync(() => server.Engine.Snapshot().Instances.All(i => i.KvBlocksUsed == 0 && i.Running == 0), "the KV freed");
        Assert.Equal(1, await MetricAsync(server.Http, "tandem:requests_timed_out_total{model_name=\"stories260K\"}"));
    }
}

/// <summary>Admission control on a cluster frontend: it counts the requests it sent to remote workers and not yet started.</summary>
public sealed class ClusterAdmissionTests
{
    [Fact]
    public async Task A_frontend_refuses_past_max_waiting_requests_while_its_prefill_worker_is_stopped()
    {
        using var cluster = await LocalCluster.StartAsync(1, 1, frontendArguments: ["--max-waiting-requests", "1", "--worker-timeout", "120"]);
        var prefill = cluster.Prefill[0];
        prefill.Pause(); // SIGSTOP: the request sent to it gets no first token until it runs again
        Task<ApiCalls.Reply> first;
        try
        {
            first = cluster.Http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 4));
            for (int i = 0; i < 600 && !(await cluster.Http.GetStringAsync("/metrics")).Contains("tandem:admission_waiting_requests{model_name=\"stories260K\"} 1"); i++)
                await Task.Delay(50);
            var refused = await cluster.Http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 4));
            ApiCalls.AssertError(refused, HttpStatusCode.TooManyRequests, code: "max_waiting_requests", type: "rate_limit_error");
        }
        finally
        {
            prefill.Resume();
        }
        var done = await first;
        Assert.Equal(HttpStatusCode.OK, done.Status);
        Assert.Equal(References.OnceUponATime32[..4], done.Body.GetProperty("choices")[0].GetProperty("text").GetString()![..4]);
    }
}
