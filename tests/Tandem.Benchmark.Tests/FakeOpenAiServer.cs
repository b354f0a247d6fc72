using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Tandem.Benchmark.Tests;

/// <summary>What the fake server does with one request.</summary>
public enum FakeBehaviour { Stream, HttpError, Hang, StreamError }

/// <summary>How the fake server's prompt cache tells clients what it reused.</summary>
public enum FakeCacheReport
{
    /// <summary>It keeps no cache (says nothing).</summary>
    None,
    /// <summary>OpenAI's <c>usage.prompt_tokens_details.cached_tokens</c> (vLLM, SGLang).</summary>
    Usage,
    /// <summary>llama.cpp's <c>timings.cache_n</c> in the last chunk.</summary>
    LlamaCppTimings,
}

/// <summary>
/// The plan for one request, decided when it arrives from <c>others</c> (requests already in flight) and
/// <c>arrival</c> (its 0-based arrival number). Times are seconds after the request's arrival at the server.
/// </summary>
public sealed record FakePlan(double FirstTokenAfter, double LastTokenAfter, FakeBehaviour Behaviour = FakeBehaviour.Stream);

/// <summary>
/// A deterministic stand-in for an OpenAI-compatible server: a real Kestrel on 127.0.0.1 (port 0) serving
/// <c>/v1/models</c>, <c>/v1/completions</c> and <c>/v1/chat/completions</c> in the streaming shape (SSE chunks, a
/// final chunk with finish_reason, a usage chunk when asked for, <c>[DONE]</c>). It emits exactly <c>max_tokens</c>
/// tokens at times its plan function sets from the load, so latencies are known functions of the number in flight.
/// </summary>
public sealed class FakeOpenAiServer : IAsyncDisposable
{
    public const string ModelName = "fake-model";

    private readonly WebApplication _app;
    private readonly Func<int, int, FakePlan> _plan;
    private readonly object _lock = new();
    private int _inFlight;
    private int _arrivals;

    public bool SendUsage { get; init; } = true;
    public bool SendTimeline { get; init; } = true;
    /// <summary>
    /// With a report style, the server behaves like a prompt cache: a prompt's tokens (words, or ids) shared as a prefix
    /// with any prompt it saw before count as cached, all but the last (llama.cpp always evaluates one), and it says so.
    /// </summary>
    public FakeCacheReport CacheReport { get; init; }
    public List<JsonElement> Bodies { get; } = [];
    private readonly List<string[]> _seenPrompts = [];
    public List<int> InFlightAtArrival { get; } = [];

    private FakeOpenAiServer(WebApplication app, Func<int, int, FakePlan> plan)
    {
        _app = app;
        _plan = plan;
    }

    public Uri BaseUrl { get; private set; } = null!;

    /// <param name="plan">(requests in flight before this one, arrival number) → plan.</param>
    public static async Task<FakeOpenAiServer> StartAsync(Func<int, int, FakePlan> plan, bool sendUsage = true, bool sendTimeline = true,
        FakeCacheReport cacheReport = FakeCacheReport.None)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        var app = builder.Build();
        var server = new FakeOpenAiServer(app, plan) { SendUsage = sendUsage, SendTimeline = sendTimeline, CacheReport = cacheReport };
        app.MapGet("/v1/models", () => Results.Json(new { @object = "list", data = new[] { new { id = ModelName, @object = "model" } } }));
        app.MapPost("/v1/completions", ctx => server.Generate(ctx, chat: false));
        app.MapPost("/v1/chat/completions", ctx => server.Generate(ctx, chat: true));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseUrl = new Uri(address);
        return server;
    }

    private async Task Generate(HttpContext ctx, bool chat)
    {
        long arrivedAt = Stopwatch.GetTimestamp();
        using var doc = await JsonDocument.ParseAsync(ctx.Request.Body, cancellationToken: ctx.RequestAborted);
        var body = doc.RootElement.Clone();
        int maxTokens = body.GetProperty("max_tokens").GetInt32();
        bool usage = body.TryGetProperty("stream_options", out var so) && so.TryGetProperty("include_usage", out var iu) && iu.GetBoolean();
        int others, arrival, cached = 0;
        lock (_lock)
        {
            others = _inFlight++;
            arrival = _arrivals++;
            Bodies.Add(body);
            InFlightAtArrival.Add(others);
            if (CacheReport != FakeCacheReport.None)
            {
                string[] prompt = PromptTokenList(body);
                foreach (var seen in _seenPrompts)
                    cached = Math.Max(cached, Math.Min(CommonPrefix(prompt, seen), prompt.Length - 1));
                _seenPrompts.Add(prompt);
            }
        }
        try
        {
            var plan = _plan(others, arrival);
            if (plan.Behaviour == FakeBehaviour.HttpError)
            {
                ctx.Response.StatusCode = 503;
                await ctx.Response.WriteAsJsonAsync(new { error = new { message = "overloaded (fake)", type = "server_error", code = 503 } });
                return;
            }
            if (plan.Behaviour == FakeBehaviour.Hang)
            {
                try { await Task.Delay(Timeout.Infinite, ctx.RequestAborted); } catch (OperationCanceledException) { }
                return;
            }
            ctx.Response.ContentType = "text/event-stream";
            var times = new List<double>();
            double Now() => Stopwatch.GetElapsedTime(arrivedAt).TotalSeconds;
            async Task Until(double t)
            {
                double wait = t - Now();
                if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait), ctx.RequestAborted);
            }
            if (plan.Behaviour == FakeBehaviour.StreamError)
            {
                await Until(plan.FirstTokenAfter);
                await Send(ctx, new { error = new { message = "engine failure (fake)", type = "server_error" } });
                await Done(ctx);
                return;
            }
            for (int i = 0; i < maxTokens; i++)
            {
                // Deadlines from the arrival, not sleeps in sequence: the schedule does not drift.
                double at = maxTokens == 1 ? plan.FirstTokenAfter
                    : plan.FirstTokenAfter + (plan.LastTokenAfter - plan.FirstTokenAfter) * i / (maxTokens - 1);
                await Until(at);
                times.Add(Now());
                string text = " w" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await Send(ctx, chat
                    ? new { id = "x", @object = "chat.completion.chunk", choices = new object[] { new { index = 0, delta = new { content = text }, finish_reason = (string?)null } } }
                    : (object)new { id = "x", @object = "text_completion", choices = new object[] { new { index = 0, text, finish_reason = (string?)null } } });
            }
            var timeline = new Dictionary<string, object?>
            {
                ["arrival"] = 0.0, ["prefill_queued"] = 0.0, ["prefill_start"] = 0.001, ["prefill_end"] = times.Count > 0 ? times[0] : 0.0,
                ["transfer_start"] = null, ["transfer_end"] = null, ["decode_start"] = null,
                ["first_token"] = times.Count > 0 ? times[0] : null, ["end"] = Now(), ["token_times"] = times,
            };
            var final = new Dictionary<string, object?>
            {
                ["id"] = "x",
                ["choices"] = new object[] { chat
                    ? new { index = 0, delta = new { }, finish_reason = "length" }
                    : (object)new { index = 0, text = "", finish_reason = "length" } },
            };
            if (SendTimeline) final["tandem_timeline"] = timeline;
            int promptTokens = PromptTokenList(body).Length;
            if (CacheReport == FakeCacheReport.LlamaCppTimings) final["timings"] = new { cache_n = cached, prompt_n = promptTokens - cached };
            await Send(ctx, final);
            if (usage && SendUsage)
            {
                var counts = new Dictionary<string, object>
                {
                    ["prompt_tokens"] = promptTokens, ["completion_tokens"] = maxTokens, ["total_tokens"] = promptTokens + maxTokens,
                };
                if (CacheReport == FakeCacheReport.Usage) counts["prompt_tokens_details"] = new { cached_tokens = cached };
                await Send(ctx, new { id = "x", choices = Array.Empty<object>(), usage = counts });
            }
            await Done(ctx);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            lock (_lock) _inFlight--;
        }
    }

    /// <summary>A request's prompt as the fake counts it: its token ids, or its words.</summary>
    public static string[] PromptTokenList(JsonElement body) =>
        body.TryGetProperty("prompt", out var p)
            ? p.ValueKind == JsonValueKind.Array ? p.EnumerateArray().Select(t => t.GetRawText()).ToArray() : p.GetString()!.Split(' ')
            : body.GetProperty("messages")[0].GetProperty("content").GetString()!.Split(' ');

    private static int CommonPrefix(string[] a, string[] b)
    {
        int n = 0;
        while (n < a.Length && n < b.Length && a[n] == b[n]) n++;
        return n;
    }

    private static async Task Send(HttpContext ctx, object chunk)
    {
        await ctx.Response.WriteAsync("data: " + JsonSerializer.Serialize(chunk) + "\n\n", Encoding.UTF8, ctx.RequestAborted);
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
    }

    private static async Task Done(HttpContext ctx)
    {
        await ctx.Response.WriteAsync("data: [DONE]\n\n", ctx.RequestAborted);
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
