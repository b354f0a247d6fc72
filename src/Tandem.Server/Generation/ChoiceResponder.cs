using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Tandem.Server.Protocol;
using Tandem.Serving;

namespace Tandem.Server.Generation;

/// <summary>
/// Writes a <see cref="ChoiceRun"/> back to the client: one JSON response, or a server-sent event stream
/// (<c>data: {chunk}</c> per event, <c>data: [DONE]</c> last) that interleaves the choices as their tokens arrive.
/// </summary>
internal static class ChoiceResponder
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    public static async Task WriteAsync(HttpContext context, ChoiceRun run, ChoiceFormat format, string id, string model, long created)
    {
        if (run.Plan.Stream)
            await StreamAsync(context, run, format, id, model, created);
        else
            await RespondAsync(context, run, format, id, model, created);
    }

    private static async Task RespondAsync(HttpContext context, ChoiceRun run, ChoiceFormat format, string id, string model, long created)
    {
        var plan = run.Plan;
        var results = await run.CollectAsync(context.RequestAborted);
        if (results is null)
            return; // the client left; its requests are cancelled and nobody reads an answer

        using var json = new PooledJson();
        var w = json.Writer;
        WriteEnvelopeStart(w, id, format.ResponseObject, created, model);
        w.WriteStartArray("choices");
        foreach (var r in results)
            format.WriteChoice(w, r, plan.LogProbs, plan.ReturnTimeline);
        w.WriteEndArray();
        Usage(plan, results.Select(r => r.Outcome!.CompletionTokens).Sum(), results.Where((_, i) => i % plan.N == 0).Sum(r => r.Outcome!.CachedTokens)).Write(w);
        if (plan.ReturnTimeline && results.Length == 1)
            TimelineJson.Write(w, results[0].Outcome!.Timeline);
        w.WriteEndObject();

        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        await json.CopyToAsync(context.Response.Body, context.RequestAborted);
    }

    private static async Task StreamAsync(HttpContext context, ChoiceRun run, ChoiceFormat format, string id, string model, long created)
    {
        var plan = run.Plan;
        var response = context.Response;
        var aborted = context.RequestAborted;
        using var registration = aborted.Register(run.CancelAll);

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no"; // proxies (nginx) would otherwise hold chunks back

        using var json = new PooledJson();
        var body = response.Body;
        var offsets = new int[plan.ChoiceCount];
        int completionTokens = 0, cachedTokens = 0;
        RequestOutcome? single = null;

        try
        {
            for (int i = 0; i < plan.ChoiceCount; i++)
            {
                json.Reset();
                StartChunk(json.Writer, id, format, created, model);
                if (!format.WriteOpening(json.Writer, i, plan.EchoText(i)))
                    break;
                await WriteEventAsync(body, EndChunk(json, plan), aborted);
            }
            await body.FlushAsync(aborted);

            var events = run.Merge();
            var one = new TokenOutput[1];
            while (await events.WaitToReadAsync(aborted))
            {
                // Everything already waiting goes out under one flush: fewer syscalls when tokens come in bursts.
                while (events.TryRead(out var e))
                {
                    json.Reset();
                    StartChunk(json.Writer, id, format, created, model);
                    if (e.Outcome is RequestOutcome outcome)
                    {
                        completionTokens += outcome.CompletionTokens;
                        if (e.Index % plan.N == 0) cachedTokens += outcome.CachedTokens; // a prompt's first choice speaks for it
                        if (plan.ChoiceCount == 1) single = outcome;
                        format.WriteFinish(json.Writer, e.Index, outcome, plan.ReturnTimeline);
                    }
                    else
                    {
                        var token = e.TokenOutput;
                        bool withLogProbs = plan.LogProbs && token.TokenId >= 0;
                        if (token.Text.Length == 0 && !withLogProbs)
                            continue; // text held back (partial character or a possible stop string): nothing to say yet
                        one[0] = token;
                        format.WriteDelta(json.Writer, e.Index, token.Text, withLogProbs ? one : [], withLogProbs, ref offsets[e.Index]);
                    }
                    await WriteEventAsync(body, EndChunk(json, plan), aborted);
                }
                await body.FlushAsync(aborted);
            }

            json.Reset();
            if (plan.IncludeUsage || (plan.ReturnTimeline && single is not null))
            {
                // The closing chunk: usage (stream_options.include_usage) and the timeline of a single choice.
                var w = json.Writer;
                WriteEnvelopeStart(w, id, format.ChunkObject, created, model);
                w.WriteStartArray("choices");
                w.WriteEndArray();
                if (plan.IncludeUsage) Usage(plan, completionTokens, cachedTokens).Write(w);
                if (plan.ReturnTimeline && single is not null) TimelineJson.Write(w, single.Timeline);
                w.WriteEndObject();
                await WriteEventAsync(body, json.Written, aborted);
            }
            await body.WriteAsync(Done, aborted);
            await body.FlushAsync(aborted);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // Client gone: the registration has cancelled every choice; there is nobody to tell.
        }
        catch (Exception e) when (!aborted.IsCancellationRequested)
        {
            // A failure after the 200 went out: say so in the stream (as vLLM does), then end it.
            run.CancelAll();
            json.Reset();
            ErrorBody.Write(json.Writer, e.Message, ApiException.ServerError, null, null);
            try
            {
                await WriteEventAsync(body, json.Written, aborted);
                await body.WriteAsync(Done, aborted);
                await body.FlushAsync(aborted);
            }
            catch (Exception) when (aborted.IsCancellationRequested) { }
        }
    }

    /// <summary>Opens a chunk up to its choice array; the one choice follows, then <see cref="EndChunk"/>.</summary>
    private static void StartChunk(Utf8JsonWriter w, string id, ChoiceFormat format, long created, string model)
    {
        WriteEnvelopeStart(w, id, format.ChunkObject, created, model);
        w.WriteStartArray("choices");
    }

    /// <summary>Closes the choice array a chunk opened with its one choice, adds <c>usage: null</c> when usage comes last.</summary>
    private static ReadOnlyMemory<byte> EndChunk(PooledJson json, GenerationPlan plan)
    {
        var w = json.Writer;
        w.WriteEndArray();
        if (plan.IncludeUsage) w.WriteNull("usage");
        w.WriteEndObject();
        return json.Written;
    }

    private static void WriteEnvelopeStart(Utf8JsonWriter w, string id, string objectName, long created, string model)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", objectName);
        w.WriteNumber("created", created);
        w.WriteString("model", model);
        w.WriteNull("system_fingerprint");
    }

    private static async ValueTask WriteEventAsync(Stream body, ReadOnlyMemory<byte> json, CancellationToken cancellation)
    {
        await body.WriteAsync(DataPrefix, cancellation);
        await body.WriteAsync(json, cancellation);
        await body.WriteAsync(EventEnd, cancellation);
    }

    private static Usage Usage(GenerationPlan plan, int completionTokens, int cachedTokens) =>
        new(plan.Prompts.Sum(p => p.Length), completionTokens, cachedTokens);

    /// <summary>Unix seconds for the <c>created</c> field.</summary>
    public static long Now(TimeProvider time) => time.GetUtcNow().ToUnixTimeSeconds();

    /// <summary>An id like OpenAI's: prefix and 24 random alphanumerics.</summary>
    public static string NewId(string prefix)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        var sb = new StringBuilder(prefix, prefix.Length + 24);
        for (int i = 0; i < 24; i++)
            sb.Append(alphabet[Random.Shared.Next(alphabet.Length)]);
        return sb.ToString();
    }
}
