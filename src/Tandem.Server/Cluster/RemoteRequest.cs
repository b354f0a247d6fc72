using System.Diagnostics;
using Grpc.Core;
using Tandem.Engine.Generation;
using Tandem.Engine.Sampling;
using Tandem.Server.Telemetry;
using Tandem.Serving;
using Tandem.Serving.Workers;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Cluster;

/// <summary>
/// One request's way through the cluster, driven by the frontend: Prefill on a prefill worker until its KV is held,
/// then Decode on a decode worker (which pulls that KV) until it ends. Whenever a worker is lost or its KV is
/// (killed process, broken stream, failed checksum, preemption), the request goes back to prefill with the tokens
/// it already streamed appended; tokens a worker sends again are dropped by position, so the client's stream has
/// no gap and no repeat. A worker that is shutting down refuses new calls, and the call goes to another worker of its
/// role (nothing to recompute). When no worker of a role is left, the client gets an error saying so. With
/// <c>--kv-overlap</c> the Decode call starts as soon as the prefill worker announces the KV (its prefill started), so
/// the decode worker pulls each block while later chunks are computed; its stream is read once the prefill has ended.
/// With <c>--local-prefill-threshold</c> a prompt may first go to a decode worker that prefills it itself; when that
/// worker gives it back (no room) or is lost, it goes the usual way.
/// </summary>
internal sealed class RemoteRequest(ClusterEngine engine, ForwardedRequest request, bool warmUp = false)
{
    /// <summary>Recoveries one request may need before it fails (every worker would have had to die several times).</summary>
    public const int MaxAttempts = 8;

    public ForwardedRequest Request => request;

    /// <summary>Calls to draining workers one request may meet before it fails (each picks another worker).</summary>
    private const int MaxRefusals = 16;

    /// <summary>
    /// Decode calls one request may see taken and then dropped before its KV came in, before it fails. A decode worker
    /// that died is marked down and not picked again, but one whose call breaks while the worker still answers its
    /// heartbeat (its handler throws on this request, a proxy cuts the stream) would be picked again and again.
    /// </summary>
    internal const int MaxDrops = MaxAttempts;

    /// <summary>
    /// How a worker call ended. Lost: the worker or the request's KV was lost, and the request is prefilled again (a
    /// recompute). Refused: the worker did not take the call (draining, loop dead, or no answer at all), and it goes to
    /// another worker of the role as it was. Dropped: a decode worker took the call and was lost before the KV came in;
    /// the KV still waits on the prefill worker, so another decode worker pulls it (nothing is recomputed; if the KV is
    /// gone after all, that worker's pull says so and the request is recomputed then).
    /// </summary>
    private enum Outcome { Finished, Held, Lost, Refused, Dropped }

    private FinishReason _reason;
    private Proto.KvHeld? _held;
    private OverlappedDecode? _early;
    private bool _imported;
    private int _refusals;
    private int _drops;

    public async Task RunAsync()
    {
        try
        {
            await DriveAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            request.Fail(e, engine.Now);
        }
        finally
        {
            DropEarlyDecode();
        }
    }

    private async Task DriveAsync()
    {
        bool localTried = false;
        for (int attempt = 1; ; attempt++)
        {
            if (request.IsCancelRequested) { request.Finish(FinishReason.Cancelled, engine.Now); return; }
            if (attempt > MaxAttempts)
                throw new InvalidOperationException($"request {request.Id} lost its workers {MaxAttempts - 1} times; giving up");
            if (attempt > 1)
            {
                if (!warmUp) engine.CountRecovery();
                request.Recomputations++;
            }

            Outcome outcome;
            // Conditional disaggregation, tried once: a decode worker that gives the prompt back (or is lost) leaves it to prefill.
            if (!localTried && engine.PickLocalPrefill(request) is { } local)
            {
                localTried = true;
                outcome = await StreamAsync(local, null, (w, c) => local.Client.Decode(w, cancellationToken: c), localPrefill: true).ConfigureAwait(false);
                if (outcome == Outcome.Finished) { request.Finish(_reason, engine.Now); return; }
                if (request.IsCancelRequested) continue;
            }
            RemoteWorker prefill;
            do
            {
                DropEarlyDecode(); // a refused or lost prefill's announcement: that KV will never come
                prefill = engine.PickPrefill(request)
                    ?? throw new InvalidOperationException("no prefill worker is left in the cluster: the request cannot go on (new requests get 503 until one joins)");
                outcome = await StreamAsync(prefill, null, (w, c) => prefill.Client.Prefill(w, cancellationToken: c)).ConfigureAwait(false);
            }
            while (outcome == Outcome.Refused);
            if (outcome != Outcome.Lost && !request.IsCancelRequested) ClusterEngine.NotePrefilled(prefill, request.TokenIdSpan[..(request.NumTokens - 1)]);
            if (outcome != Outcome.Held) DropEarlyDecode();
            if (outcome == Outcome.Finished) { request.Finish(_reason, engine.Now); return; }
            if (outcome == Outcome.Lost) continue;

            var kv = _held!;
            request.Timeline.PrefillEnd ??= engine.Now;
            var location = new Proto.KvLocation { Address = prefill.Address, KvId = kv.KvId, Tokens = kv.Tokens };
            do
            {
                if (outcome == Outcome.Dropped && ++_drops >= MaxDrops)
                {
                    Release(prefill, kv);
                    throw new InvalidOperationException(
                        $"request {request.Id}: {MaxDrops} decode calls were taken and dropped before its KV came in; giving up");
                }
                if (_early is { } early)
                {
                    // Started when the prefill did: its pull may be all but done.
                    _early = null;
                    _imported = false;
                    outcome = await StreamAsync(early.Worker, early.Location, (_, _) => early.Call, early.Span).ConfigureAwait(false);
                    early.Dispose();
                    continue;
                }
                var decode = engine.PickDecode(kv.Tokens + 1);
                if (decode == null)
                {
                    Release(prefill, kv);
                    throw new InvalidOperationException("no decode worker is left in the cluster: the request cannot go on (new requests get 503 until one joins)");
                }
                _imported = false;
                outcome = await StreamAsync(decode, location, (w, c) => decode.Client.Decode(w, cancellationToken: c)).ConfigureAwait(false);
            }
            while (outcome is Outcome.Refused or Outcome.Dropped); // the KV still waits on the prefill worker: another decode worker pulls it
            // The decode side never confirmed, or it was lost: free the prefill copy now, not at the lease. A lost decode worker
            // may have imported the KV and died before its own ReleaseKv reached the holder (a second release does nothing).
            if (!_imported || outcome == Outcome.Lost) Release(prefill, kv);
            if (outcome == Outcome.Finished) { request.Finish(_reason, engine.Now); return; }
        }
    }

    /// <summary>
    /// The prefill worker announced the request's KV (--kv-overlap): starts the Decode call now, for the decode worker to
    /// reserve the blocks and pull them as the prefill computes them. Null when no decode worker is up (the usual path after
    /// prefill then says so).
    /// </summary>
    private OverlappedDecode? StartEarlyDecode(RemoteWorker prefill, Proto.KvHeld started)
    {
        var decode = engine.PickDecode(started.Tokens + 1);
        if (decode == null) return null;
        var location = new Proto.KvLocation { Address = prefill.Address, KvId = started.KvId, Tokens = started.Tokens, Overlapped = true };
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(request.Cancelled, decode.Lost);
        // Its span starts with the call, as the others' do, so the decode worker's spans (the pull included) join the trace.
        // It starts inside the Prefill call's span, which stays the current one here.
        var previous = Activity.Current;
        var span = StartCallSpan(decode, location);
        Activity.Current = previous;
        return new OverlappedDecode(decode, location, decode.Client.Decode(Wire(location, span, localPrefill: false), cancellationToken: cancel.Token), cancel, span);
    }

    /// <summary>Cancels a Decode call started early whose KV will not come (the prefill finished at its first token, or was lost).</summary>
    private void DropEarlyDecode()
    {
        _early?.Span?.SetTag("tandem.outcome", "dropped");
        _early?.Dispose();
        _early = null;
    }

    private Proto.GenerateRequest Wire(Proto.KvLocation? kv, Activity? span, bool localPrefill)
    {
        var w = new Proto.GenerateRequest
        {
            RequestId = request.Id,
            MaxTokens = request.RemainingTokens,
            Sampling = ClusterProtocol.ToWire(request.Sampling, request.Seed, request.RandomState),
            IgnoreEos = request.IgnoreEos,
            Kv = kv,
            Traceparent = span is null ? "" : TraceParent.Format(span.Context),
            Tracestate = span?.TraceStateString ?? "",
            // The first token then comes from the prefill and the next from decode: only worth it with two or more to go.
            KvOverlap = kv == null && !localPrefill && engine.Options.KvOverlap && request.RemainingTokens >= 2,
            WarmUp = warmUp,
        };
        ClusterProtocol.AddStructuredOutput(w.Sampling, request.StructuredOutput, request.NumPromptTokens);
        ClusterProtocol.AddToolCalls(w.Sampling, request.ToolCalls, request.NumPromptTokens);
        foreach (int t in request.TokenIds) w.TokenIds.Add(t);
        return w;
    }

    /// <summary>
    /// Reads one worker call to its end: Finished (request done), Held (prefilled, KV waiting) or Lost. A traced
    /// request gets a span for the call, whose context goes with it so the worker's spans join the trace; a call started
    /// earlier (<paramref name="started"/>: the overlapped Decode) brought its own, which its owner ends.
    /// </summary>
    private async Task<Outcome> StreamAsync(RemoteWorker worker, Proto.KvLocation? kv,
        Func<Proto.GenerateRequest, CancellationToken, AsyncServerStreamingCall<Proto.WorkerEvent>> start, Activity? started = null,
        bool localPrefill = false)
    {
        using var own = started is null ? StartCallSpan(worker, kv, localPrefill) : null;
        var span = started ?? own;
        var outcome = await CallAsync(worker, Wire(kv, span, localPrefill), start).ConfigureAwait(false);
        span?.SetTag("tandem.outcome", outcome.ToString().ToLowerInvariant());
        if (outcome == Outcome.Lost) span?.SetStatus(ActivityStatusCode.Error, "the worker or its KV was lost; the request is recomputed");
        if (outcome == Outcome.Dropped) span?.SetStatus(ActivityStatusCode.Error, "the decode worker was lost before the KV came in; another one pulls it");
        return outcome;
    }

    /// <summary>The frontend's span of one worker call, now the current one (null when the request is not traced).</summary>
    private Activity? StartCallSpan(RemoteWorker worker, Proto.KvLocation? kv, bool localPrefill = false)
    {
        if (request.TraceContext == default) return null;
        var span = TandemTracing.Source.StartActivity(TandemTracing.WorkerCall, ActivityKind.Client, request.TraceContext);
        span?.SetTag("tandem.role", kv is null && !localPrefill ? "prefill" : "decode");
        span?.SetTag("tandem.worker", worker.Address);
        return span;
    }

    private async Task<Outcome> CallAsync(RemoteWorker worker, Proto.GenerateRequest wire,
        Func<Proto.GenerateRequest, CancellationToken, AsyncServerStreamingCall<Proto.WorkerEvent>> start)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(request.Cancelled, worker.Lost);
        bool answered = false;
        // Completes when the worker took the call (it sends its response headers then, before any work is done).
        Task<Metadata>? headers = null;
        bool Accepted() => answered || headers is { IsCompletedSuccessfully: true };
        try
        {
            using var call = start(wire, linked.Token);
            headers = call.ResponseHeadersAsync;
            var top = new TokenLogProb[SamplingParams.MaxLogProbs];
            while (await call.ResponseStream.MoveNext(linked.Token).ConfigureAwait(false))
            {
                answered = true;
                worker.NoteHeard(engine.Options.TimeProvider);
                var e = call.ResponseStream.Current;
                switch (e.EventCase)
                {
                    case Proto.WorkerEvent.EventOneofCase.Token:
                        if (Accept(e.Token, top) is { } end) { _reason = end; return Outcome.Finished; } // leaving cancels the call
                        break;
                    case Proto.WorkerEvent.EventOneofCase.KvStarted:
                        _early ??= StartEarlyDecode(worker, e.KvStarted);
                        break;
                    case Proto.WorkerEvent.EventOneofCase.KvHeld:
                        _held = e.KvHeld;
                        request.NoteCachedTokens(e.KvHeld.CachedTokens);
                        return Outcome.Held;
                    case Proto.WorkerEvent.EventOneofCase.KvImported:
                        _imported = true;
                        request.KvTransferBytes += e.KvImported.Bytes;
                        request.KvReusedTokens = e.KvImported.ReusedTokens;
                        // The decode worker timed the pull itself (the decode queue before it is not transfer).
                        request.Timeline.TransferEnd ??= engine.Now;
                        request.Timeline.TransferStart = request.Timeline.TransferEnd - e.KvImported.Seconds;
                        request.Timeline.DecodeStart ??= engine.Now;
                        break;
                    case Proto.WorkerEvent.EventOneofCase.Finished:
                        if (e.Finished.CachedTokens > 0) request.NoteCachedTokens(e.Finished.CachedTokens);
                        _reason = e.Finished.Reason switch
                        {
                            "stop" => FinishReason.Stop,
                            "length" => FinishReason.Length,
                            _ => FinishReason.Cancelled,
                        };
                        // A worker that cut the request (it is shutting down) is like a lost one, unless the client left.
                        return _reason == FinishReason.Cancelled && !request.IsCancelRequested ? Outcome.Lost : Outcome.Finished;
                    case Proto.WorkerEvent.EventOneofCase.Recompute:
                        return Outcome.Lost;
                }
            }
            return Outcome.Lost; // the stream ended without saying how: the worker went away
        }
        catch (Exception) when (request.IsCancelRequested)
        {
            _reason = FinishReason.Cancelled;
            return Outcome.Finished;
        }
        catch (RpcException e) when (ClusterProtocol.IsDraining(e))
        {
            // It shuts down and refused this call before doing anything: its own requests go on, this one goes elsewhere.
            worker.MarkDraining();
            return Refused(e);
        }
        catch (RpcException e) when (ClusterProtocol.IsFailed(e))
        {
            // Its loop died: nothing ran there, so this call goes to another worker of the role (held KV waits as it is).
            engine.ReportFailed(worker, e.Status.Detail);
            return Refused(e);
        }
        catch (RpcException e) when (!Accepted() && ClusterProtocol.NeverAnswered(e))
        {
            // Refused before it began (it exited after its drain, between two heartbeats; or it is dead): no new work goes
            // there, and this call goes to another worker. Taking it as lost instead counted a recompute, and marking it
            // down cancelled the other calls still connecting to it, which counted one each.
            worker.MarkDraining();
            return Refused(e);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.InvalidArgument or StatusCode.Unauthenticated or StatusCode.PermissionDenied)
        {
            throw new InvalidOperationException($"worker {worker.Address} refused request {request.Id}: {e.Status.Detail}", e);
        }
        catch (Exception e) when (e is RpcException or OperationCanceledException or IOException or HttpRequestException)
        {
            bool accepted = Accepted();
            if (worker.Lost.IsCancellationRequested) { } // already taken as down
            else if (e is RpcException { StatusCode: StatusCode.Unavailable } r) engine.ReportUnreachable(worker, $"{r.StatusCode}: {r.Status.Detail}");
            else await engine.ProbeAsync(worker).ConfigureAwait(false); // a broken stream: is the worker itself gone?
            // Not taken (e.g. cancelled with the other calls of a worker found dead while it was connecting): nothing of it
            // ran there, so nothing is redone. Taken by a decode worker that was lost before the KV came: pulled again.
            if (!accepted) return Refused(e);
            return wire.Kv != null && !_imported ? Outcome.Dropped : Outcome.Lost;
        }
        finally
        {
            if (headers is { IsFaulted: true }) _ = headers.Exception; // the call's error is the one handled above
        }
    }

    /// <summary>A call the worker did not take: it goes to another worker of the role, a bounded number of times.</summary>
    private Outcome Refused(Exception e)
    {
        if (++_refusals > MaxRefusals) throw new InvalidOperationException($"request {request.Id} was refused by {MaxRefusals} workers; giving up", e);
        return Outcome.Refused;
    }

    private FinishReason? Accept(Proto.Token t, TokenLogProb[] top)
    {
        int n = Math.Min(t.TopLogprobs.Count, top.Length);
        for (int i = 0; i < n; i++) top[i] = new TokenLogProb(t.TopLogprobs[i].TokenId, t.TopLogprobs[i].Logprob);
        double now = engine.Now;
        var end = request.AcceptToken(t.Position, t.TokenId, new TokenLogProb(t.TokenId, t.Logprob), top.AsSpan(0, n), now, out bool duplicate);
        if (!duplicate) request.RandomState = ClusterProtocol.State(t.RandomState);
        return end;
    }

    /// <summary>
    /// A Decode call started while its KV's prefill runs, with its span (null: not traced); disposing cancels the call
    /// (the decode worker then drops the pull) and ends the span.
    /// </summary>
    private sealed class OverlappedDecode(RemoteWorker worker, Proto.KvLocation location, AsyncServerStreamingCall<Proto.WorkerEvent> call,
        CancellationTokenSource cancel, Activity? span) : IDisposable
    {
        public RemoteWorker Worker => worker;
        public Proto.KvLocation Location => location;
        public AsyncServerStreamingCall<Proto.WorkerEvent> Call => call;
        public Activity? Span => span;

        public void Dispose()
        {
            call.Dispose();
            cancel.Dispose();
            var previous = Activity.Current;
            span?.Dispose();
            Activity.Current = previous;
        }
    }

    /// <summary>Frees the prefill worker's copy, off the request's path, retried when it times out (<see cref="KvRelease"/>).</summary>
    private void Release(RemoteWorker prefill, Proto.KvHeld kv) => _ = Task.Run(() => KvRelease.SendAsync(prefill.Client, kv.KvId, prefill.Address, m => engine.Log("warning: " + m)));
}
