using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tandem.Server.Tests;

/// <summary>
/// SIGTERM to a real <c>tandem serve</c> process: new requests get 503 and /health turns 503 at once, requests in
/// flight finish inside --shutdown-timeout or are ended there with finish_reason "abort" in complete responses, and
/// the exit code says whether any had to be cut.
/// </summary>
public sealed class ShutdownTests
{
    private static readonly TimeSpan ExitLimit = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan PollLimit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Requests_running_past_the_shutdown_timeout_end_with_abort_and_the_exit_code_is_1()
    {
        // A context far past the test model's 512 tokens (allowed, with a warning) for requests that cannot end by
        // themselves while the test looks: 2 x 64 choices x 16000 tokens are minutes of work on any CPU (64 x 500 took
        // 2.9 s on one core of a 2024 EPYC), against the 1 s allowed. With 500 tokens the /health poll below raced the
        // work: both requests had to be seen running at once, and a fast machine (or a stalled test process) could finish
        // one between two polls. Now "both running" lasts until the shutdown ends them.
        using var server = await ServeProcess.StartAsync("--shutdown-timeout", "1", "--cores-per-instance", "1", "--ctx-size", "16384");
        using var http = await WarmClientAsync(server);

        const int choices = 64;
        using var stream = await OpenStreamAsync(http, LongRequest(choices, stream: true, EndlessTokens));
        var whole = http.PostAsync("/v1/completions", LongRequest(choices, stream: false, EndlessTokens));
        await PollAsync(http, health => Running(health) >= 2 * choices, "both requests running"); // the whole one is admitted, not refused

        await TerminateAndAssertDrainingAsync(server, http);
        await AssertStreamEndsAsync(stream, choices, "abort");

        var reply = await whole;
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        var answers = reply.Body.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal(choices, answers.Count);
        Assert.All(answers, c => Assert.Equal("abort", c.GetProperty("finish_reason").GetString()));
        Assert.InRange(reply.Body.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), 0, choices * EndlessTokens - 1);

        Assert.Equal(1, await server.WaitForExitAsync(ExitLimit));
        Assert.Contains("ended with finish_reason \"abort\"", server.Stderr);
    }

    [Fact]
    public async Task Requests_finishing_inside_the_shutdown_timeout_end_normally_and_the_exit_code_is_0()
    {
        using var server = await ServeProcess.StartAsync("--shutdown-timeout", "60", "--cores-per-instance", "1");
        using var http = await WarmClientAsync(server);

        // 64 x 500 tokens: 2.9 s on one core of a 2024 EPYC, so the request is still running when the signal lands a
        // moment later, and it ends well inside the 60 s on a slow one. (8 x 300 took 0.18 s there: it was done before the
        // first /health answered, as /health's code compiles at its first call with tiered compilation off.)
        // Its first chunk has come, so it is running: no /health poll, which could miss it if it finished between polls.
        const int choices = 64;
        using var stream = await OpenStreamAsync(http, LongRequest(choices, stream: true));

        await TerminateAndAssertDrainingAsync(server, http);
        await AssertStreamEndsAsync(stream, choices, "length");

        Assert.Equal(0, await server.WaitForExitAsync(ExitLimit));
        Assert.Contains("stopped: every request finished", server.Stderr);
    }

    /// <summary>A client for the server whose /health has answered once, so the polls that race a running request do not
    /// wait for its first-call compile.</summary>
    private static async Task<HttpClient> WarmClientAsync(ServeProcess server)
    {
        var http = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromMinutes(2) };
        using var health = await http.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        return http;
    }

    /// <summary>SIGTERM; then, while the drain lasts, /health is 503 "stopping", /health/ready 503 "not_ready", and a new request gets an OpenAI-style 503.</summary>
    private static async Task TerminateAndAssertDrainingAsync(ServeProcess server, HttpClient http)
    {
        server.Terminate();
        var draining = await PollAsync(http, health => health.Status == HttpStatusCode.ServiceUnavailable, "/health turning 503");
        Assert.Equal("stopping", draining.Body.GetProperty("status").GetString());
        // Readiness turns too, so an orchestrator takes the pod out of its Service while the drain lasts.
        using var ready = await http.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Equal("not_ready", JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
        var refused = await http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 4));
        ApiCalls.AssertError(refused, HttpStatusCode.ServiceUnavailable, code: "server_shutting_down", type: "unavailable_error");
    }

    /// <summary>Reads the rest of the stream: every choice closes once with <paramref name="reason"/>, then [DONE] comes last.</summary>
    private static async Task AssertStreamEndsAsync(OpenStream stream, int choices, string reason)
    {
        var events = await stream.ReadToEndAsync();
        Assert.Equal("[DONE]", events[^1]);
        var finishes = Finishes(events);
        Assert.Equal(choices, finishes.Count);
        Assert.All(finishes.Values, r => Assert.Equal(reason, r));
    }

    /// <summary>max_tokens of requests that must still run when the shutdown timeout ends them (with --ctx-size 16384).</summary>
    private const int EndlessTokens = 16000;

    private static JsonObject LongRequest(int choices, bool stream, int maxTokens = 500)
    {
        var request = ApiCalls.Completion(References.OnceUponATime, maxTokens);
        request["n"] = choices;
        request["ignore_eos"] = true;
        request["stream"] = stream;
        return request;
    }

    private static int Running(ApiCalls.Reply health) =>
        health.Body.GetProperty("requests_running").GetInt32() + health.Body.GetProperty("requests_waiting").GetInt32();

    /// <summary>Choice index → the finish_reason of its closing chunk, from every event before [DONE] (each choice closes once).</summary>
    private static Dictionary<int, string> Finishes(List<string> events)
    {
        var finishes = new Dictionary<int, string>();
        foreach (string e in events.SkipLast(1))
        {
            using var chunk = JsonDocument.Parse(e);
            foreach (var choice in chunk.RootElement.GetProperty("choices").EnumerateArray())
                if (choice.GetProperty("finish_reason").GetString() is { } reason)
                    finishes.Add(choice.GetProperty("index").GetInt32(), reason);
        }
        return finishes;
    }

    private static async Task<ApiCalls.Reply> PollAsync(HttpClient http, Func<ApiCalls.Reply, bool> done, string what)
    {
        var limit = DateTime.UtcNow + PollLimit;
        while (true)
        {
            using var response = await http.GetAsync("/health");
            var reply = new ApiCalls.Reply(response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
            if (done(reply)) return reply;
            Assert.True(DateTime.UtcNow < limit, $"gave up waiting for {what}");
            await Task.Delay(20);
        }
    }

    /// <summary>Sends a streamed request and reads up to its first chunk, so it is surely running.</summary>
    private static async Task<OpenStream> OpenStreamAsync(HttpClient http, JsonObject body)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var stream = new OpenStream(response, new StreamReader(await response.Content.ReadAsStreamAsync()));
        await stream.ReadEventAsync();
        return stream;
    }

    /// <summary>A server-sent event stream being read: every <c>data:</c> payload so far.</summary>
    private sealed class OpenStream(HttpResponseMessage response, StreamReader reader) : IDisposable
    {
        private readonly List<string> _events = [];

        public async Task<bool> ReadEventAsync()
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                _events.Add(line["data: ".Length..]);
                return true;
            }
            return false;
        }

        /// <summary>Reads until the server closes the stream; returns every event, the first included.</summary>
        public async Task<List<string>> ReadToEndAsync()
        {
            while (await ReadEventAsync()) { }
            return _events;
        }

        public void Dispose()
        {
            reader.Dispose();
            response.Dispose();
        }
    }
}
