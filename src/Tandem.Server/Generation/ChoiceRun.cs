using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Tandem.Server.Admission;
using Tandem.Server.Hosting;
using Tandem.Server.Metrics;
using Tandem.Server.Protocol;
using Tandem.Server.Telemetry;
using Tandem.Serving;

namespace Tandem.Server.Generation;

/// <summary>
/// The runtime requests behind one API call, one per choice. Owns their handles: whoever ends the call early
/// (client gone, write failed, another choice rejected) cancels them all, so no KV stays held for a reader that
/// is no longer there.
/// </summary>
internal sealed class ChoiceRun : IDisposable
{
    private readonly RequestHandle[] _handles;
    private readonly AdmissionTicket _admission;
    private readonly CancellationTokenRegistration _cutOff;
    private readonly ITimer? _timeout;
    private readonly ServingMetrics _metrics;
    private int _finished;
    private int _timedOut;

    private ChoiceRun(GenerationPlan plan, RequestHandle[] handles, AdmissionTicket admission, ServingMetrics metrics,
        CancellationToken cutOff, TimeSpan? timeout, TimeProvider time)
    {
        Plan = plan;
        _handles = handles;
        _admission = admission;
        _metrics = metrics;
        // The server's shutdown deadline ends every choice; each then finishes as "abort" in a complete response.
        _cutOff = cutOff.Register(static run => ((ChoiceRun)run!).CancelAll(), this);
        // So does --request-timeout: the runtime ends each choice at its next step and frees its KV.
        if (timeout is { } t)
            _timeout = time.CreateTimer(static run => ((ChoiceRun)run!).TimeOut(), this, t, Timeout.InfiniteTimeSpan);
    }

    /// <summary>True when --request-timeout ended the call.</summary>
    public bool TimedOut => Volatile.Read(ref _timedOut) != 0;

    private void TimeOut()
    {
        if (Volatile.Read(ref _finished) != 0 || Interlocked.Exchange(ref _timedOut, 1) != 0) return;
        _metrics.CountTimeout();
        CancelAll();
    }

    public GenerationPlan Plan { get; }
    public IReadOnlyList<RequestHandle> Handles => _handles;

    /// <summary>
    /// Admits the call (429 at once when admission control refuses it), then submits every choice. A choice the
    /// runtime refuses cancels those already queued and becomes a 400 (the runtime's reason code, e.g.
    /// context_length_exceeded, goes to the client as is). The shutdown deadline cancels every choice when it fires
    /// (already fired: at once), and so does the request timeout. <paramref name="tracked"/> false (the server's
    /// warm-up): the choices leave no metrics, log line or span, and a cluster's workers are told so (they leave them
    /// out of their own counts).
    /// </summary>
    public static ChoiceRun Start(TandemApi api, GenerationPlan plan, string requestId, bool tracked = true)
    {
        var admission = api.Admission.Admit(plan);
        try
        {
            var handles = Submit(api.Engine, plan, requestId, tracked ? api.Telemetry : null, warmUp: !tracked);
            return new ChoiceRun(plan, handles, admission, api.Metrics, api.Shutdown.Deadline, api.Options.RequestTimeout, api.Time);
        }
        catch
        {
            admission.EndAll();
            throw;
        }
    }

    private static RequestHandle[] Submit(IServingEngine engine, GenerationPlan plan, string requestId, RequestTelemetry? telemetry, bool warmUp)
    {
        var handles = new RequestHandle[plan.ChoiceCount];
        int submitted = 0;
        try
        {
            for (int p = 0; p < plan.Prompts.Count; p++)
            {
                for (int i = 0; i < plan.N; i++)
                {
                    int index = p * plan.N + i;
                    var sampling = plan.Sampling.Seed is ulong seed ? plan.Sampling with { Seed = unchecked(seed + (ulong)i) } : plan.Sampling;
                    string id = plan.ChoiceCount == 1 ? requestId : $"{requestId}-{index}";
                    // Started before the runtime takes it in, so the span's start is the request's arrival.
                    var span = telemetry?.Start(id);
                    var request = new GenerationRequest
                    {
                        Id = id,
                        PromptTokens = plan.Prompts[p],
                        MaxTokens = plan.MaxTokens[p],
                        Sampling = sampling,
                        Stop = plan.Stop,
                        StopTokenIds = plan.StopTokenIds,
                        IncludeStopStringInOutput = plan.IncludeStopStringInOutput,
                        IgnoreEos = plan.IgnoreEos,
                        StructuredOutput = plan.StructuredOutput,
                        ToolCalls = plan.ToolCalls?.Auto,
                        TraceContext = span?.Context ?? default,
                    };
                    try
                    {
                        handles[index] = warmUp && engine is Cluster.ClusterEngine cluster ? cluster.Submit(request, warmUp: true) : engine.Submit(request);
                    }
                    catch
                    {
                        span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, "refused");
                        span?.Stop();
                        throw;
                    }
                    submitted++;
                    telemetry?.Track(handles[index], span);
                }
            }
        }
        catch (Exception e)
        {
            for (int k = 0; k < submitted; k++)
                handles[k].Cancel();
            if (e is RequestRejectedException { IsTemporary: true } unavailable)
                throw new ApiException(StatusCodes.Status503ServiceUnavailable, unavailable.Message, null, unavailable.Code, ApiException.Unavailable);
            if (e is RequestRejectedException r)
                throw new ApiException(StatusCodes.Status400BadRequest, r.Message, null, r.Code);
            throw;
        }
        return handles;
    }

    public void CancelAll()
    {
        foreach (var h in _handles)
            h.Cancel();
    }

    /// <summary>Waits for every choice to finish; returns null when the client went away (the requests are cancelled).</summary>
    public async Task<ChoiceResult[]?> CollectAsync(CancellationToken aborted)
    {
        using var registration = aborted.Register(CancelAll);
        var results = new ChoiceResult[_handles.Length];
        var tasks = new Task[_handles.Length];
        for (int i = 0; i < _handles.Length; i++)
        {
            results[i] = new ChoiceResult(i);
            results[i].Text.Append(Plan.EchoText(i));
            tasks[i] = CollectOneAsync(_handles[i], results[i]);
        }
        try
        {
            await Task.WhenAll(tasks);
        }
        catch when (aborted.IsCancellationRequested)
        {
            return null;
        }
        Interlocked.Exchange(ref _finished, 1);
        return aborted.IsCancellationRequested ? null : results;
    }

    private async Task CollectOneAsync(RequestHandle handle, ChoiceResult result)
    {
        bool keepTokens = Plan.LogProbs;
        await foreach (var token in handle.Tokens.ReadAllAsync())
        {
            _admission.Started(result.Index);
            result.Text.Append(token.Text);
            if (keepTokens && token.TokenId >= 0)
                result.Tokens.Add(token);
        }
        _admission.Started(result.Index);
        result.Outcome = await handle.Completion;
    }

    /// <summary>
    /// Merges the choices' token streams into one sequence of events in arrival order, ending after every
    /// choice's <see cref="ChoiceEvent.Finished"/> (or at the first failure).
    /// </summary>
    public ChannelReader<ChoiceEvent> Merge()
    {
        var channel = Channel.CreateUnbounded<ChoiceEvent>(new UnboundedChannelOptions { SingleReader = true });
        int remaining = _handles.Length;
        for (int i = 0; i < _handles.Length; i++)
            _ = PumpAsync(i, _handles[i]);
        return channel.Reader;

        async Task PumpAsync(int index, RequestHandle handle)
        {
            try
            {
                await foreach (var token in handle.Tokens.ReadAllAsync())
                {
                    _admission.Started(index);
                    channel.Writer.TryWrite(ChoiceEvent.Token(index, token));
                }
                _admission.Started(index);
                var outcome = await handle.Completion;
                channel.Writer.TryWrite(ChoiceEvent.Finished(index, outcome));
                if (Interlocked.Decrement(ref remaining) == 0)
                {
                    Interlocked.Exchange(ref _finished, 1);
                    channel.Writer.TryComplete();
                }
            }
            catch (Exception e)
            {
                channel.Writer.TryComplete(e);
            }
        }
    }

    /// <summary>Cancels whatever has not finished: the call is over, whether it completed, failed or lost its client.</summary>
    public void Dispose()
    {
        _cutOff.Dispose();
        _timeout?.Dispose();
        if (Volatile.Read(ref _finished) == 0)
            CancelAll();
        _admission.EndAll();
    }
}
