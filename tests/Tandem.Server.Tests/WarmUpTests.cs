using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tandem.Server.Cluster;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Tests;

/// <summary>
/// <c>tandem serve</c>'s warm-up (ServingWarmUp): real processes. Ready only after it, and it leaves nothing a client
/// sees: the first request answers as a later one and as on a server without warm-up, /metrics counts only the
/// clients' requests, a cluster's KV pools are empty after it, and a client cannot pass for it.
/// </summary>
[Collection(ClusterCollection.Name)] // several start clusters: one at a time, as the cluster tests
public sealed class WarmUpTests
{
    private static JsonObject Request(string prompt) => ApiCalls.Completion(prompt, 12);

    [Fact]
    public async Task ReadyOnlyAfterWarmUpAndFirstRequestIsUntouched()
    {
        await using var warm = await ServeProcess.StartAsync();
        // "listening on" comes after the warm-up: the probe answers ready at once, and the report says what ran.
        using (var ready = await warm.Http.GetAsync("/health/ready"))
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        string stdout = warm.Stdout;
        int report = stdout.IndexOf("warm-up: completion", StringComparison.Ordinal);
        Assert.True(report >= 0 && report < stdout.IndexOf("listening on", StringComparison.Ordinal), stdout);
        Assert.Contains("streamed chat", stdout);

        var first = await warm.Http.PostAsync("/v1/completions", Request("Once upon a time"));
        var second = await warm.Http.PostAsync("/v1/completions", Request("Once upon a time"));
        Assert.Equal(HttpStatusCode.OK, first.Status);
        Assert.Equal(Text(second), Text(first));

        // Only the client's request counts; the warm-up's five did not.
        var metrics = await MetricsAsync(warm.Http);
        Assert.Equal(2, Sum(metrics, "vllm:request_success_total"));
        Assert.Equal(2 * Usage(first, "prompt_tokens"), Sum(metrics, "vllm:prompt_tokens_total"));
        Assert.Equal(2 * Usage(first, "prompt_tokens"), Sum(metrics, "vllm:prefix_cache_queries_total"));
        Assert.Equal(2, Sum(metrics, "vllm:e2e_request_latency_seconds_count"));
        // No request log line of the warm-up's: the two clients' ones only.
        Assert.Equal(2, await LogLinesAsync(warm, 2));

        // The same first request on a server without warm-up: same text, same cached-token count.
        await using var cold = await ServeProcess.StartAsync("--no-warmup");
        Assert.Contains("warm-up: off", cold.Stdout);
        var coldFirst = await cold.Http.PostAsync("/v1/completions", Request("Once upon a time"));
        Assert.Equal(Text(coldFirst), Text(first));
        Assert.Equal(CachedTokens(coldFirst), CachedTokens(first));
        Assert.Equal(1, Sum(await MetricsAsync(cold.Http), "vllm:request_success_total"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task TheServingPathIsCompiledBeforeAnyRequest(bool warmUp)
    {
        // No client request is sent: endpoint code in the JIT's list can only be the warm-up's. The list is read after
        // a clean exit (the JIT buffers its writes until then). Without warm-up it must be absent: the check can fail.
        string log = Path.Combine(Path.GetTempPath(), $"tandem-warmup-jit-{Guid.NewGuid():N}.txt");
        try
        {
            await using (var server = await ServeProcess.StartAsync(
                new Dictionary<string, string> { ["DOTNET_JitDisasmSummary"] = "1", ["DOTNET_JitStdOutFile"] = log },
                warmUp ? [] : ["--no-warmup"]))
            {
                server.Terminate();
                Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromMinutes(1)));
            }
            string jit = File.ReadAllText(log);
            foreach (string endpoint in (string[])["Tandem.Server.Completions.CompletionsEndpoint", "Tandem.Server.Chat.ChatCompletionsEndpoint",
                         "Tandem.Server.Generation.ChoiceResponder"])
                Assert.Equal(warmUp, jit.Contains("JIT compiled " + endpoint, StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(log);
        }
    }

    [Fact]
    public async Task AClientCannotPassForTheWarmUp()
    {
        await using var server = await ServeProcess.StartAsync();
        var forged = await server.Http.PostAsync("/v1/completions", Request("Lily went"),
            new Dictionary<string, string> { ["X-Tandem-Warmup"] = new string('0', 64) });
        Assert.Equal(HttpStatusCode.OK, forged.Status);
        var metrics = await MetricsAsync(server.Http);
        Assert.Equal(1, Sum(metrics, "vllm:request_success_total"));
        Assert.Equal(1, await LogLinesAsync(server, 1));
    }

    [Fact]
    public async Task ClusterWarmsThroughItsWorkersAndLeavesTheirPoolsEmpty()
    {
        using var cluster = await LocalCluster.StartAsync(1, 1);
        // Ready (LocalCluster waited for it) only once the warm-up went through prefill, the KV pull and decode. The frontend
        // prints its report once the warm-up has ended, as readiness turns: the line may follow the 200 by a moment.
        await WaitForOutputAsync(cluster.Frontend, "warm-up: completion");
        using var channels = new ClusterChannels(new ClusterToken(LocalCluster.Token));
        foreach (var worker in cluster.Workers)
        {
            Assert.Equal((0, 0), await LocalCluster.WorkerKvAsync(worker));
            var status = await channels.Worker(worker.Address.ToString().TrimEnd('/')).StatusAsync(new Proto.StatusRequest());
            Assert.True(status.TokensComputed > 0, $"the warm-up did not reach the {status.Role} worker");
        }
        // The decode worker pulled the warm-up's KV (four requests of two tokens) but counts no pull of it.
        Assert.Equal(0, (await LocalCluster.WorkerHealthAsync(cluster.Decode[0])).GetProperty("kv_pulls_streamed").GetInt32());

        var first = await cluster.Http.PostAsync("/v1/completions", Request("Once upon a time"));
        var second = await cluster.Http.PostAsync("/v1/completions", Request("Once upon a time"));
        Assert.Equal(HttpStatusCode.OK, first.Status);
        Assert.Equal(Text(second), Text(first));
        Assert.Equal(0, CachedTokens(first));
        var metrics = await MetricsAsync(cluster.Http);
        Assert.Equal(2, Sum(metrics, "vllm:request_success_total"));
        Assert.Equal(2 * Usage(first, "prompt_tokens"), Sum(metrics, "vllm:prompt_tokens_total"));
        Assert.Equal(2, Sum(metrics, "tandem:kv_transfers_total"));
        Assert.Equal(2, (await LocalCluster.WorkerHealthAsync(cluster.Decode[0])).GetProperty("kv_pulls_streamed").GetInt32());
        foreach (var worker in cluster.Workers)
            Assert.Equal((0, 0), await LocalCluster.WorkerKvAsync(worker));
    }

    /// <summary>
    /// A warm-up call that gets no answer (here a peer that holds the first KV pull and never lets it go) does not hold
    /// start-up: after the time limit the call is cancelled, the frontend says why and becomes ready, and serves.
    /// </summary>
    [Fact]
    public async Task AWarmUpWithNoAnswerIsCutAtItsLimitAndTheFrontendBecomesReadyAndServes()
    {
        using var prefill = await LocalCluster.StartWorkerAsync("prefill", 0);
        using var decode = await LocalCluster.StartWorkerAsync("decode", 1);
        await using var relay = await HoldingKvRelay.StartAsync(prefill.Address.ToString().TrimEnd('/'), LocalCluster.Token);
        relay.Intercept(); // from the start: the pull held is the warm-up's first
        var started = DateTime.UtcNow;
        using var frontend = await ServeProcess.StartAsync("--role", "frontend", "--cluster-token", LocalCluster.Token,
            "--prefill-workers", relay.HostPort, "--decode-workers", LocalCluster.HostPort(decode));
        using var http = new HttpClient { BaseAddress = frontend.Address, Timeout = TimeSpan.FromMinutes(2) };
        await relay.Holding.WaitAsync(TimeSpan.FromMinutes(1));
        using (var ready = await http.GetAsync("/health/ready"))
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode); // warming up, held

        await LocalCluster.WaitReadyAsync(http, frontend);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromSeconds(30), "ready before the warm-up's time limit although its call was held");
        await WaitForOutputAsync(frontend, "warning: warm-up failed");
        Assert.Contains("call 1 of 5 had no answer within 30 s", frontend.Stdout);
        await relay.HeldPullEnded.WaitAsync(TimeSpan.FromMinutes(1)); // the cancelled call took its pull with it

        var reply = await http.PostAsync("/v1/completions", Request("Once upon a time"));
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        foreach (var w in new[] { prefill, decode })
            await LocalCluster.AssertPoolEmptyAsync(w, TimeSpan.FromSeconds(20));
    }

    /// <summary>
    /// The only decode worker dies while the warm-up's request is on it (its KV pull held by a slow peer): the warm-up
    /// fails at once rather than waiting out its limit, the frontend says so, and readiness says no decode worker is
    /// connected (503) until one joins; the prefill worker's copy of the KV is freed, not left to the lease.
    /// </summary>
    [Fact]
    public async Task TheOnlyDecodeWorkerDyingDuringTheWarmUpEndsItAndReadinessSaysWhatIsMissing()
    {
        using var prefill = await LocalCluster.StartWorkerAsync("prefill", 0, ["--kv-lease", "600"]);
        using var decode = await LocalCluster.StartWorkerAsync("decode", 1);
        await using var relay = await HoldingKvRelay.StartAsync(prefill.Address.ToString().TrimEnd('/'), LocalCluster.Token);
        relay.Intercept();
        using var frontend = await ServeProcess.StartAsync("--role", "frontend", "--cluster-token", LocalCluster.Token, "--worker-timeout", "2",
            "--prefill-workers", relay.HostPort, "--decode-workers", LocalCluster.HostPort(decode));
        using var http = new HttpClient { BaseAddress = frontend.Address, Timeout = TimeSpan.FromMinutes(2) };
        await relay.Holding.WaitAsync(TimeSpan.FromMinutes(1));
        decode.KillHard();

        await WaitForOutputAsync(frontend, "warning: warm-up failed");
        // Failed by the lost worker, not cancelled by its time limit (the report names the cause; a duration compared
        // with a threshold would say the same only on a machine that is not loaded).
        Assert.DoesNotContain("had no answer within", frontend.Stdout);
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        string readiness;
        while (true)
        {
            using var ready = await http.GetAsync("/health/ready");
            readiness = await ready.Content.ReadAsStringAsync();
            if (ready.StatusCode == HttpStatusCode.ServiceUnavailable && readiness.Contains("no decode worker", StringComparison.Ordinal)) break;
            Assert.True(DateTime.UtcNow < until, $"readiness never said the decode worker is missing: {(int)ready.StatusCode} {readiness}");
            await Task.Delay(100);
        }
        await LocalCluster.AssertPoolEmptyAsync(prefill, TimeSpan.FromSeconds(20));
    }

    private static async Task WaitForOutputAsync(ServeProcess process, string text)
    {
        var until = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (!process.Stdout.Contains(text, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < until, $"'{text}' never came: {process.Stdout}\n{process.Stderr}");
            await Task.Delay(50);
        }
    }

    private static string Text(ApiCalls.Reply reply) => reply.Body.GetProperty("choices")[0].GetProperty("text").GetString()!;

    private static long Usage(ApiCalls.Reply reply, string field) => reply.Body.GetProperty("usage").GetProperty(field).GetInt64();

    private static long CachedTokens(ApiCalls.Reply reply) =>
        reply.Body.GetProperty("usage").TryGetProperty("prompt_tokens_details", out var d) && d.ValueKind == JsonValueKind.Object
            ? d.GetProperty("cached_tokens").GetInt64() : 0;

    private static async Task<string> MetricsAsync(HttpClient http) => await http.GetStringAsync("/metrics");

    /// <summary>The sum of a family's samples (every label set) named exactly <paramref name="name"/>.</summary>
    private static double Sum(string exposition, string name) => exposition.Split('\n')
        .Where(l => l.StartsWith(name + "{", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal))
        .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    /// <summary>The request log lines, once there are <paramref name="expected"/> (they are written as requests end) or after a while.</summary>
    private static async Task<int> LogLinesAsync(ServeProcess server, int expected)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (CountOccurrences(server.Stdout + server.Stderr, "finished: finish_reason=") < expected && DateTime.UtcNow < until) await Task.Delay(50);
        await Task.Delay(200); // one more would show by now
        return CountOccurrences(server.Stdout + server.Stderr, "finished: finish_reason=");
    }

    private static int CountOccurrences(string text, string part)
    {
        int count = 0;
        for (int i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + part.Length, StringComparison.Ordinal)) count++;
        return count;
    }
}
