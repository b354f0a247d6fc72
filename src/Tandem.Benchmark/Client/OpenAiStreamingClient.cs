using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Tandem.Benchmark.Workloads;

namespace Tandem.Benchmark.Client;

/// <summary>
/// Sends benchmark requests to an OpenAI-compatible server as streams (server-sent events) and records when each
/// token arrived. Every outcome becomes a <see cref="RequestRecord"/>: HTTP errors, errors inside the stream,
/// broken connections and timeouts are recorded, not thrown, so a run always accounts for every request.
/// </summary>
public sealed class OpenAiStreamingClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly Uri _url;

    public OpenAiStreamingClient(ClientOptions options, HttpMessageHandler? handler = null)
    {
        Options = options;
        _http = CreateHttpClient(handler);
        _url = new Uri(ClientOptions.Root(options.BaseUrl), options.Endpoint.Path().TrimStart('/'));
    }

    public ClientOptions Options { get; }

    /// <summary>An HttpClient for many concurrent streams to one server: no pool limit, no proxy, no client-wide timeout.</summary>
    public static HttpClient CreateHttpClient(HttpMessageHandler? handler = null) =>
        new(handler ?? new SocketsHttpHandler
        {
            MaxConnectionsPerServer = int.MaxValue,
            UseProxy = false,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            ConnectTimeout = TimeSpan.FromSeconds(30),
        }, disposeHandler: handler is null)
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };

    /// <summary>The first model the server lists at <c>/v1/models</c> (what vLLM's bench uses when no model is named).</summary>
    public static async Task<string> FirstModelAsync(Uri baseUrl, string? apiKey = null, HttpMessageHandler? handler = null, CancellationToken ct = default)
    {
        using var http = CreateHttpClient(handler);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(ClientOptions.Root(baseUrl), "v1/models"));
        if (apiKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        using var response = await http.SendAsync(request, ct).ConfigureAwait(false);
        string body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"GET /v1/models: HTTP {(int)response.StatusCode} {Truncate(body)}");
        using var doc = JsonDocument.Parse(body);
        if (doc.RootElement.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Array)
            foreach (var m in data.EnumerateArray())
                if (m.TryGetProperty("id", out var id) && id.GetString() is { Length: > 0 } name)
                    return name;
        throw new HttpRequestException("GET /v1/models lists no model: name one with --model");
    }

    /// <summary>The JSON body for a request (public so tests and logs can see exactly what is sent).</summary>
    public byte[] RequestBody(BenchRequest request)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", Options.Model);
            if (Options.Endpoint == ApiEndpoint.ChatCompletions)
            {
                if (request.Prompt is null) throw new ArgumentException("the chat endpoint takes text prompts, not token ids");
                w.WriteStartArray("messages");
                w.WriteStartObject();
                w.WriteString("role", "user");
                w.WriteString("content", request.Prompt);
                w.WriteEndObject();
                w.WriteEndArray();
            }
            else if (request.PromptTokenIds is { } ids)
            {
                w.WriteStartArray("prompt");
                foreach (int id in ids) w.WriteNumberValue(id);
                w.WriteEndArray();
            }
            else w.WriteString("prompt", request.Prompt);
            w.WriteNumber("max_tokens", request.OutputTokens);
            if (Options.IgnoreEos) w.WriteBoolean("ignore_eos", true);
            w.WriteNumber("temperature", Options.Temperature);
            w.WriteBoolean("stream", true);
            w.WriteStartObject("stream_options");
            w.WriteBoolean("include_usage", true);
            w.WriteEndObject();
            if (Options.RequestTimeline) w.WriteBoolean("return_timeline", true);
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>Sends one request now and records it; <paramref name="scheduledAt"/> is when the arrival process said it arrives.</summary>
    public async Task<RequestRecord> SendAsync(BenchRequest request, BenchClock clock, double scheduledAt, CancellationToken ct = default)
    {
        byte[] body = RequestBody(request);
        var tokenTimes = new List<double>();
        int? completionTokens = null, promptTokens = null, cachedPromptTokens = null, status = null;
        string? error = null, finish = null;
        ServerTimeline? timeline = null;
        bool timedOut = false;

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Options.Timeout);
        double sentAt = clock.Now;
        try
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, _url) { Content = new ByteArrayContent(body) };
            message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            if (Options.RequestTimeline) message.Headers.Add("X-Tandem-Timeline", "1");
            if (Options.ApiKey is not null) message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Options.ApiKey);

            using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            status = (int)response.StatusCode;
            if (!response.IsSuccessStatusCode)
            {
                string text = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
                error = $"HTTP {status} {ErrorMessage(text) ?? Truncate(text)}".TrimEnd();
            }
            else
            {
                await using var stream = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
                using var reader = new StreamReader(stream, Encoding.UTF8);
                bool done = false;
                while (!done && await reader.ReadLineAsync(timeout.Token).ConfigureAwait(false) is { } line)
                {
                    double now = clock.Now;
                    if (!line.StartsWith("data:", StringComparison.Ordinal)) continue; // comments, event names, blank separators
                    var payload = line.AsSpan(5).Trim();
                    if (payload.SequenceEqual("[DONE]")) { done = true; break; }
                    using var doc = JsonDocument.Parse(payload.ToString());
                    var root = doc.RootElement;
                    if (root.TryGetProperty("error", out var err))
                    {
                        error = "stream error: " + (ErrorMessage(root.GetRawText()) ?? Truncate(err.GetRawText()));
                        continue;
                    }
                    if (root.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array && choices.GetArrayLength() > 0)
                    {
                        var choice = choices[0];
                        if (ChunkText(choice) is { Length: > 0 }) tokenTimes.Add(now);
                        if (choice.TryGetProperty("finish_reason", out var fr) && fr.ValueKind == JsonValueKind.String) finish = fr.GetString();
                        if (choice.TryGetProperty("tandem_timeline", out var ct1)) timeline = ServerTimeline.FromJson(ct1) ?? timeline;
                    }
                    if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                    {
                        if (usage.TryGetProperty("completion_tokens", out var c) && c.TryGetInt32(out int ci)) completionTokens = ci;
                        if (usage.TryGetProperty("prompt_tokens", out var p) && p.TryGetInt32(out int pi)) promptTokens = pi;
                        if (usage.TryGetProperty("prompt_tokens_details", out var details))
                            cachedPromptTokens = CachedTokens(details, "cached_tokens", cachedPromptTokens);
                    }
                    // llama.cpp's server says in its last chunk how many prompt tokens it took from the slot's cache.
                    if (root.TryGetProperty("timings", out var timings))
                        cachedPromptTokens = CachedTokens(timings, "cache_n", cachedPromptTokens);
                    if (root.TryGetProperty("tandem_timeline", out var tl)) timeline = ServerTimeline.FromJson(tl) ?? timeline;
                }
                if (error is null && !done && finish is null) error = "stream ended before [DONE]";
                if (error is null && tokenTimes.Count == 0 && (completionTokens ?? 0) == 0) error = "no tokens in the answer";
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            timedOut = true;
            error = $"timed out after {Options.Timeout.TotalSeconds:0.###} s";
        }
        catch (Exception e) when (e is HttpRequestException or IOException or JsonException)
        {
            error = e is JsonException ? $"malformed stream chunk: {e.Message}" : e.Message;
        }
        double endAt = clock.Now;
        return new RequestRecord
        {
            Index = request.Index,
            PromptTokens = request.PromptTokens,
            PromptTokensReported = promptTokens,
            CachedPromptTokens = cachedPromptTokens,
            OutputTokensRequested = request.OutputTokens,
            OutputTokens = completionTokens ?? tokenTimes.Count,
            OutputTokensFromUsage = completionTokens is not null,
            ScheduledAt = scheduledAt,
            SentAt = sentAt,
            TokenTimes = tokenTimes,
            EndAt = endAt,
            Success = error is null,
            TimedOut = timedOut,
            HttpStatus = status,
            Error = error,
            FinishReason = finish,
            ServerTimeline = timeline,
        };
    }

    /// <summary>The larger of <paramref name="sofar"/> and <paramref name="parent"/>.<paramref name="name"/> when that is a count.</summary>
    private static int? CachedTokens(JsonElement parent, string name, int? sofar) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) && n >= 0
            ? Math.Max(n, sofar ?? 0)
            : sofar;

    private static string? ChunkText(JsonElement choice)
    {
        if (choice.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String) return text.GetString();
        if (choice.TryGetProperty("delta", out var delta) && delta.ValueKind == JsonValueKind.Object)
        {
            if (delta.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String) return c.GetString();
            // Reasoning models stream their thinking separately; it is still generated tokens.
            if (delta.TryGetProperty("reasoning_content", out var r) && r.ValueKind == JsonValueKind.String) return r.GetString();
        }
        return null;
    }

    private static string? ErrorMessage(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out var e))
            {
                if (e.ValueKind == JsonValueKind.String) return e.GetString();
                if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("message", out var m)) return m.GetString();
            }
        }
        catch (JsonException)
        {
        }
        return null;
    }

    private static string Truncate(string s) => s.Length <= 200 ? s.Trim() : s[..200].Trim() + "...";

    public void Dispose() => _http.Dispose();
}
