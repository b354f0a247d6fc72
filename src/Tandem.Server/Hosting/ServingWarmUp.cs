using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Tandem.Server.Cluster;

namespace Tandem.Server.Hosting;

/// <summary>
/// The server's first requests, sent to itself before it says it is ready, so that a client's first request costs what
/// its forward pass costs. With tiering off (the CLI's runtimeconfig) every method is compiled fully optimised at first
/// use, and a serving path touches hundreds of them (Kestrel, parsing, tokenizing, scheduling, sampling, formatting,
/// streaming; in a cluster the gRPC calls and the KV pull): measured 0.4 s for one process and 1.3-1.8 s for a cluster
/// on the first request (docs/performance.md, "Cold start"). Only real calls through the server's own Kestrel pipeline
/// compile the real path, so that is what this sends: a tokenize, a completion (whole and streamed) and a chat
/// completion (whole and streamed), each of a few tokens.
/// <para>
/// They leave no trace a client sees: <see cref="WarmUpRequest"/> marks them, and marked calls count in no metric, log
/// line, span or re-planner window; the prefix-cache counters they moved are taken off (<see cref="Metrics.ServingMetrics.ExcludePrefixLookups"/>).
/// </para>
/// <para>
/// The prefix cache: only full KV blocks are cached. The completions' prompt plus completion stay within one block, so
/// they leave nothing. A chat prompt is as long as the model's template makes it (42 tokens with ChatML on a 512-token
/// vocabulary), so its message is a text random to this process: the blocks it leaves (evictable, counted as cached,
/// never as used) hold that text, and no client prompt continues them. Only a template whose fixed opening alone fills
/// a block (Llama 3's dated system preamble) leaves a block a client's first chat finds, and then it reports the
/// cached tokens its second would have on a server without warm-up; outputs are the same either way (reuse is exact).
/// </para>
/// </summary>
public sealed class ServingWarmUp
{
    private const int CompletionTokens = 2;

    /// <summary>
    /// Longest the calls may take together (from the workers' joining, in a cluster): a few short requests that take
    /// ~1 s on a loaded two-core machine. A call that gets no answer (a worker or a peer that accepts and never replies)
    /// is cancelled then, and the server says so and becomes ready anyway: the warm-up may cost speed, never service.
    /// </summary>
    internal static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(30);
    private const string ShortPrompt = "Hi";
    private volatile string? _notReady;

    /// <summary>Why /health/ready says 503 because of the warm-up (it has not finished), or null.</summary>
    public string? NotReadyReason => _notReady;

    /// <summary>Called before the server starts listening when a warm-up will follow: readiness waits for it.</summary>
    public void Expect() => _notReady = "warming up the serving path";

    /// <summary>What a warm-up did: each call and its time, what it left out, and the whole time.</summary>
    public sealed record Report(IReadOnlyList<string> Calls, IReadOnlyList<string> Notes, TimeSpan Elapsed, string? Failure)
    {
        public string Describe() => Failure is not null
            ? string.Create(CultureInfo.InvariantCulture, $"warning: warm-up failed after {Elapsed.TotalMilliseconds:0} ms ({Failure}); serving anyway, the first requests compile the rest")
            : string.Create(CultureInfo.InvariantCulture, $"warm-up: {string.Join(", ", Calls)} in {Elapsed.TotalMilliseconds:0} ms (not counted in /metrics or logs; --no-warmup skips it)")
                + (Notes.Count > 0 ? $"; {string.Join("; ", Notes)}" : "");
    }

    /// <summary>
    /// Sends the warm-up calls to <paramref name="address"/> (the server's own) and then marks the server ready,
    /// whether they succeeded or not: a failed warm-up costs speed, never service. A cluster frontend first waits for
    /// a worker of each role, so its call goes through prefill, the KV pull and decode.
    /// </summary>
    internal async Task<Report> RunAsync(TandemApi api, Uri address, TandemAccessOptions access, int blockSize, CancellationToken cancellation)
    {
        var calls = new List<string>();
        var notes = new List<string>();
        var clock = Stopwatch.StartNew();
        try
        {
            if (api.Engine is ClusterEngine cluster)
                await WaitForWorkersAsync(cluster, cancellation);
            clock.Restart();
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            limit.CancelAfter(TimeLimit);
            var bounded = limit.Token;
            using var client = Client(address, access);
            string model = api.Options.ServedModelName;
            await CallAsync(client, calls, "completion", "/v1/completions", Completion(model, stream: false), bounded);
            await CallAsync(client, calls, "streamed completion", "/v1/completions", Completion(model, stream: true), bounded);
            string message = RandomMessage();
            using var tokenized = await CallAsync(client, calls, "tokenize", "/tokenize", Json(w => Messages(w, message)), bounded);
            await CallAsync(client, calls, "chat", "/v1/chat/completions", Chat(model, message, stream: false), bounded);
            await CallAsync(client, calls, "streamed chat", "/v1/chat/completions", Chat(model, message, stream: true), bounded);
            // The KV of a choice holds its prompt and every generated token but the last.
            int cachedBlocks = (tokenized.RootElement.GetProperty("count").GetInt32() + CompletionTokens - 1) / blockSize;
            if (cachedBlocks > 0)
                notes.Add($"the chat prompt left {cachedBlocks} KV block(s) in the prefix cache (cached, not used; after a random message no client prompt shares)");
            await ExcludeOwnLookupsAsync(api, cancellation);
            return new Report(calls, notes, clock.Elapsed, null);
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or KeyNotFoundException or InvalidOperationException or OperationCanceledException
                                   && !cancellation.IsCancellationRequested)
        {
            // Cancelled here: the time limit (the server's own stop is let through).
            string failure = e is OperationCanceledException
                ? string.Create(CultureInfo.InvariantCulture, $"call {calls.Count + 1} of 5 had no answer within {TimeLimit.TotalSeconds:0} s of the warm-up's start; cancelled")
                : e.Message;
            await ExcludeOwnLookupsAsync(api, cancellation);
            return new Report(calls, notes, clock.Elapsed, failure);
        }
        finally
        {
            _notReady = null;
        }
    }

    private static async Task ExcludeOwnLookupsAsync(TandemApi api, CancellationToken cancellation)
    {
        var (queries, hits) = api.Engine is ClusterEngine cluster
            ? await cluster.PrefixLookupsNowAsync(cancellation)
            : (api.Engine.Snapshot().Instances.Sum(i => i.PrefixCacheQueries), api.Engine.Snapshot().Instances.Sum(i => i.PrefixCacheHits));
        api.Metrics.ExcludePrefixLookups(queries, hits);
    }

    private static async Task WaitForWorkersAsync(ClusterEngine cluster, CancellationToken cancellation)
    {
        while (cluster.NotReadyReason is not null)
            await Task.Delay(20, cancellation);
    }

    private static async Task<JsonDocument> CallAsync(HttpClient client, List<string> calls, string name, string path, byte[] body, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await client.PostAsync(path, content, cancellation);
        // Streamed answers are read to the end, so the whole streaming path (every chunk, [DONE]) runs.
        string text = await response.Content.ReadAsStringAsync(cancellation);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"{path} answered {(int)response.StatusCode}: {text}");
        calls.Add(string.Create(CultureInfo.InvariantCulture, $"{name} {clock.Elapsed.TotalMilliseconds:0} ms"));
        return text.StartsWith("data:", StringComparison.Ordinal) ? JsonDocument.Parse("{}") : JsonDocument.Parse(text);
    }

    private static HttpClient Client(Uri address, TandemAccessOptions access)
    {
        var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = Loopback(address), Timeout = TimeSpan.FromMinutes(5) };
        client.DefaultRequestHeaders.Add(WarmUpRequest.Header, WarmUpRequest.Value);
        // The calls go through the access checks like any other: they carry a key and a host name the server takes.
        if (access.ApiKeys.Count > 0)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", access.ApiKeys[0]);
        if (access.AllowedHosts.FirstOrDefault(h => !h.Contains('*')) is { } allowed)
            client.DefaultRequestHeaders.Host = allowed;
        return client;
    }

    /// <summary>The server's own address, with a wildcard listener (0.0.0.0, ::) reached at loopback.</summary>
    internal static Uri Loopback(Uri address)
    {
        if (!IPAddress.TryParse(address.Host.Trim('[', ']'), out var ip)) return address;
        if (ip.Equals(IPAddress.Any)) ip = IPAddress.Loopback;
        else if (ip.Equals(IPAddress.IPv6Any)) ip = IPAddress.IPv6Loopback;
        return new UriBuilder(address) { Host = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip}]" : ip.ToString() }.Uri;
    }

    private static byte[] Completion(string model, bool stream) => Json(w =>
    {
        w.WriteString("model", model);
        w.WriteString("prompt", ShortPrompt);
        Common(w, stream);
    });

    private static byte[] Chat(string model, string message, bool stream) => Json(w =>
    {
        w.WriteString("model", model);
        Messages(w, message);
        Common(w, stream);
    });

    /// <summary>Eight random lower-case letters: what the chat prompt's cached blocks hold after the template's opening.</summary>
    private static string RandomMessage() => string.Create(8, 0, static (span, _) =>
    {
        for (int i = 0; i < span.Length; i++) span[i] = (char)('a' + RandomNumberGenerator.GetInt32(26));
    });

    private static void Messages(Utf8JsonWriter w, string message)
    {
        w.WriteStartArray("messages");
        w.WriteStartObject();
        w.WriteString("role", "user");
        w.WriteString("content", message);
        w.WriteEndObject();
        w.WriteEndArray();
    }

    private static void Common(Utf8JsonWriter w, bool stream)
    {
        w.WriteNumber("max_tokens", CompletionTokens);
        w.WriteNumber("temperature", 0);
        w.WriteBoolean("ignore_eos", true);
        if (stream)
        {
            w.WriteBoolean("stream", true);
            w.WriteStartObject("stream_options");
            w.WriteBoolean("include_usage", true);
            w.WriteEndObject();
        }
    }

    private static byte[] Json(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }
}
