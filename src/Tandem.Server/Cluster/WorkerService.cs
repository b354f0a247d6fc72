using System.Buffers;
using System.Diagnostics;
using System.IO.Hashing;
using Google.Protobuf;
using Grpc.Core;
using Tandem.Engine.Generation;
using Tandem.Engine.KvCache;
using Tandem.Server.Generation;
using Tandem.Server.Hosting;
using Tandem.Server.Protocol;
using Tandem.Server.Telemetry;
using Tandem.Serving;
using Tandem.Serving.Workers;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Cluster;

/// <summary>
/// A worker's side of Protos/worker.proto over its <see cref="WorkerRuntime"/>: handshake, status, Prefill and
/// Decode streams (token by token, then how the request ended or that its KV is held / lost), and the KV pull
/// (streamed, or through a shared-memory file for a decode worker on this host).
/// </summary>
internal sealed class WorkerService(WorkerRuntime worker, ClusterChannels channels, KvPuller puller, ShutdownDrain drain) : Proto.Worker.WorkerBase
{
    public override Task<Proto.HelloReply> Hello(Proto.HelloRequest request, ServerCallContext context)
    {
        var own = worker.Fingerprint;
        string? refusal = ClusterProtocol.Refusal(request.ProtocolVersion,
            ClusterProtocol.Fingerprint(request.ModelFingerprintHigh, request.ModelFingerprintLow), own, "the frontend");
        if (refusal != null)
        {
            worker.Warn($"refused a frontend at {context.Peer}: {refusal}");
            throw new RpcException(new Status(StatusCode.FailedPrecondition, refusal));
        }
        var root = worker.PrefixHash?.Root ?? UInt128.Zero;
        return Task.FromResult(new Proto.HelloReply
        {
            ProtocolVersion = ClusterProtocol.Version,
            Role = ClusterProtocol.RoleName(worker.Role),
            ModelFingerprintHigh = own.High,
            ModelFingerprintLow = own.Low,
            BlockSize = worker.BlockSize,
            KvBlocksTotal = worker.KvBlocksTotal,
            MaxContext = worker.MaxContext,
            PrefixHashRootHigh = (ulong)(root >> 64),
            PrefixHashRootLow = (ulong)root,
            LocalPrefillBudget = worker.LocalPrefillBudget,
        });
    }

    public override Task<Proto.WorkerStatus> Status(Proto.StatusRequest request, ServerCallContext context)
    {
        var s = worker.Snapshot();
        // Read after the snapshot, so the blocks are at least as fresh as its kv_blocks_cached.
        var cached = worker.CachedBlocks?.ReportSince(request.CachedBlocksEpoch, request.CachedBlocksSequence);
        return Task.FromResult(new Proto.WorkerStatus
        {
            Role = ClusterProtocol.RoleName(worker.Role),
            Waiting = s.Waiting,
            WaitingTokens = s.WaitingTokens,
            Running = s.Running,
            KvBlocksUsed = s.KvBlocksUsed,
            KvBlocksTotal = s.KvBlocksTotal,
            KvBlocksFreeForNew = worker.KvBlocksFreeForNew,
            Held = worker.HeldCount,
            TokensComputed = s.TokensComputed,
            Draining = drain.IsDraining,
            BusySeconds = s.BusySeconds,
            Failure = s.Failure ?? "",
            KvBlocksCached = s.KvBlocksCached,
            PrefixCacheQueries = s.PrefixCacheQueries,
            PrefixCacheHits = s.PrefixCacheHits,
            CachedBlocks = cached is null ? null : ClusterProtocol.ToWire(cached),
            KvDisk = worker.KvDisk?.Store.Stats() is { } disk ? ClusterProtocol.ToWire(disk) : null,
        });
    }

    public override Task Prefill(Proto.GenerateRequest request, IServerStreamWriter<Proto.WorkerEvent> events, ServerCallContext context)
    {
        RequireRole(WorkerRole.Prefill, "Prefill");
        return RunAsync(request, null, Admit(), events, context);
    }

    public override Task Decode(Proto.GenerateRequest request, IServerStreamWriter<Proto.WorkerEvent> events, ServerCallContext context)
    {
        RequireRole(WorkerRole.Decode, "Decode");
        // No KV: the prompt is prefilled here (conditional disaggregation), when this worker takes prompts.
        if (request.Kv is null && worker.LocalPrefillBudget > 0) return RunAsync(request, null, Admit(), events, context);
        if (request.Kv is not { } kv || string.IsNullOrEmpty(kv.Address) || string.IsNullOrEmpty(kv.KvId))
            throw new RpcException(new Status(StatusCode.InvalidArgument, "Decode needs the KV's location (kv.address, kv.kv_id)"));
        if (kv.Overlapped ? kv.Tokens != request.TokenIds.Count : kv.Tokens != request.TokenIds.Count - 1)
            throw new RpcException(new Status(StatusCode.InvalidArgument, kv.Overlapped
                ? $"overlapped KV holds {kv.Tokens} tokens but the request has {request.TokenIds.Count}: it must hold them all"
                : $"the KV holds {kv.Tokens} tokens but the request has {request.TokenIds.Count}: it must hold all but the last"));
        var inFlight = Admit();
        // A warm-up's pull (GenerateRequest.warm_up, set only by a token-holding frontend) is left out of the pull counts.
        return RunAsync(request, new RemoteKvSource(channels.Worker(kv.Address), kv.KvId, kv.Address, puller, kv.Overlapped, request.WarmUp), inFlight, events, context);
    }

    private void RequireRole(WorkerRole role, string call)
    {
        if (worker.Role != role)
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"{call} goes to a {ClusterProtocol.RoleName(role)} worker; this one is a {ClusterProtocol.RoleName(worker.Role)} worker"));
    }

    /// <summary>Counts new work in flight for the shutdown drain; a draining worker, or one whose loop died, refuses it.</summary>
    private IDisposable Admit()
    {
        if (worker.Snapshot().Failure is { } failure)
            throw ClusterProtocol.Failed(worker.Role, failure);
        try
        {
            return drain.Admit();
        }
        catch (ApiException)
        {
            throw ClusterProtocol.Draining(worker.Role);
        }
    }

    /// <summary>
    /// Runs one request and streams its events. <paramref name="inFlight"/> counts it for the drain until it ends here,
    /// or, on a prefill worker, until its held KV is pulled or freed: a draining worker stays up for the puller.
    /// </summary>
    private async Task RunAsync(Proto.GenerateRequest request, RemoteKvSource? kv, IDisposable inFlight, IServerStreamWriter<Proto.WorkerEvent> events, ServerCallContext context)
    {
        bool tiedToKv = false;
        try
        {
            tiedToKv = await StreamAsync(request, kv, inFlight, events, context);
        }
        finally
        {
            if (!tiedToKv) inFlight.Dispose();
        }
    }

    /// <summary>True when <paramref name="inFlight"/> was handed to held KV.</summary>
    private async Task<bool> StreamAsync(Proto.GenerateRequest request, RemoteKvSource? kv, IDisposable inFlight, IServerStreamWriter<Proto.WorkerEvent> events, ServerCallContext context)
    {
        WorkerSubmission submission;
        try
        {
            submission = worker.Submit(new WorkerRequest
            {
                Id = request.RequestId,
                TokenIds = [.. request.TokenIds],
                MaxTokens = request.MaxTokens,
                Sampling = ClusterProtocol.FromWire(request.Sampling ?? new Proto.Sampling()),
                RandomState = ClusterProtocol.State(request.Sampling?.RandomState ?? []),
                IgnoreEos = request.IgnoreEos,
                StructuredOutput = request.Sampling is { } s ? ClusterProtocol.StructuredOutput(s) : null,
                ToolCalls = request.Sampling is { } t ? ClusterProtocol.ToolCalls(t) : null,
                OutputStart = request.Sampling?.OutputStart ?? 0,
                KvOverlap = kv?.Overlapped ?? request.KvOverlap,
            }, kv);
        }
        catch (Exception e) when (e is RequestRejectedException or ArgumentException or Engine.Structured.JsonSchemaException)
        {
            kv?.Release(); // nobody else will tell the holder
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        var handle = submission.Handle;
        using var spans = WorkerSpans.Start(ClusterProtocol.RoleName(worker.Role), request.RequestId, request.Traceparent, request.Tracestate);
        using var cancel = context.CancellationToken.Register(handle.Cancel); // the frontend went away or cancelled
        using var cut = drain.Deadline.Register(handle.Cancel); // still running when the drain's grace ended: the frontend recomputes it
        var reader = handle.Tokens;
        // Overlapped KV brings the first output token, which the frontend has: this worker's tokens start after it.
        int position = request.TokenIds.Count + (kv is { Overlapped: true } ? 1 : 0);
        bool importedSent = false;
        bool startedSent = false;
        try
        {
            // Said at once: the frontend then knows this worker took the call (its work began), so a call that breaks from
            // here on is a lost worker, whose work is redone, not a refusal (RemoteRequest's "accepted").
            await context.WriteResponseHeadersAsync(new Metadata());
            while (true)
            {
                // Said as soon as the pull is done, before the first decode step, so the frontend times the transfer alone.
                if (kv != null && !importedSent && kv.Pulled.IsCompletedSuccessfully)
                {
                    importedSent = true;
                    spans.Imported(kv.BytesPulled, kv.PullSeconds);
                    await events.WriteAsync(Imported(kv));
                }
                // Announced as soon as the prefill starts, so the frontend starts the decode side's pull meanwhile.
                if (submission.Started is { IsCompletedSuccessfully: true } started && !startedSent)
                {
                    startedSent = true;
                    await events.WriteAsync(new Proto.WorkerEvent { KvStarted = new Proto.KvHeld { KvId = started.Result.Id, Tokens = started.Result.Tokens } });
                }
                while (reader.TryRead(out var t))
                {
                    if (t.TokenId < 0) continue; // text flush: the frontend owns the text
                    await events.WriteAsync(TokenEvent(position++, t));
                }
                if (submission.Held is { IsCompletedSuccessfully: true } held)
                {
                    while (reader.TryRead(out var t))
                        if (t.TokenId >= 0) await events.WriteAsync(TokenEvent(position++, t));
                    await events.WriteAsync(new Proto.WorkerEvent { KvHeld = new Proto.KvHeld { KvId = held.Result.Id, Tokens = held.Result.Tokens, CachedTokens = held.Result.CachedTokens } });
                    worker.FreeWithKv(held.Result.Id, inFlight); // at once if the KV was pulled meanwhile
                    return true;
                }
                var more = reader.WaitToReadAsync(context.CancellationToken).AsTask();
                if (submission.Started is { IsCompleted: false } s && !startedSent) await Task.WhenAny(more, s, submission.Held!);
                else if (submission.Held is { IsCompleted: false } h) await Task.WhenAny(more, h);
                else if (kv != null && !importedSent && !kv.Pulled.IsCompleted) await Task.WhenAny(more, kv.Pulled);
                else await more;
                if (more.IsCompletedSuccessfully && !more.Result) break; // the stream completed
            }
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested) { return false; }
        catch (Exception) when (reader.Completion.IsCompleted)
        {
            // The token stream ended with the request's error: the completion below says which.
        }

        RequestOutcome outcome;
        try
        {
            outcome = await handle.Completion;
        }
        catch (KvLostException e)
        {
            worker.Warn($"{e.Message}; the frontend recomputes it");
            spans.Fail(e.Message);
            await events.WriteAsync(new Proto.WorkerEvent { Recompute = new Proto.Recompute { Reason = e.Message } });
            return false;
        }
        if (kv != null && !importedSent && outcome.FinishReason != FinishReason.Cancelled)
        {
            spans.Imported(kv.BytesPulled, kv.PullSeconds);
            await events.WriteAsync(Imported(kv));
        }
        await events.WriteAsync(new Proto.WorkerEvent
        {
            // A decode worker's count would be of KV it pulled, not of the client's prompt: only prefill says it.
            Finished = new Proto.Finished { Reason = FinishReasons.ToApi(outcome.FinishReason), CachedTokens = kv == null ? outcome.CachedTokens : 0 },
        });
        return false;
    }

    private static Proto.WorkerEvent Imported(RemoteKvSource kv) =>
        new() { KvImported = new Proto.KvImported { Bytes = kv.BytesPulled, Seconds = kv.PullSeconds, ReusedTokens = kv.ReusedTokens } };

    private static Proto.WorkerEvent TokenEvent(int position, TokenOutput t)
    {
        var token = new Proto.Token { Position = position, TokenId = t.TokenId, Logprob = t.LogProb.LogProb };
        if (t.TopLogProbs is { } top)
            foreach (var alt in top) token.TopLogprobs.Add(new Proto.TopLogProb { TokenId = alt.TokenId, Logprob = alt.LogProb });
        ClusterProtocol.AddState(token.RandomState, t.RandomState);
        return new Proto.WorkerEvent { Token = token };
    }

    public override async Task PullKv(Proto.PullKvRequest request, IServerStreamWriter<Proto.KvChunk> chunks, ServerCallContext context)
    {
        RequireRole(WorkerRole.Prefill, "PullKv");
        if (request.Overlap)
        {
            await PullOverlappedAsync(request.KvId, countEarly: !request.WarmUp, chunks, context);
            return;
        }
        var sequence = worker.BeginPull(request.KvId) ?? throw NotHeld(request.KvId);
        try
        {
            var header = KvTransfer.HeaderFor(sequence, worker.Fingerprint, FromToken(request.FromToken, sequence));
            await StreamPayloadAsync(header, (r, buffer, hash) =>
            {
                KvTransfer.WriteRecord(sequence, header, r, buffer, hash);
                return Task.CompletedTask;
            }, chunks, context);
        }
        finally
        {
            worker.EndPull(request.KvId);
        }
    }

    /// <summary>
    /// Announced KV (--kv-overlap) while its prefill runs: each record (one source block) goes out as soon as the chunk that
    /// completes it is computed, then the trailer, then the token the prefill sampled after the prompt.
    /// <paramref name="countEarly"/> false: the pull of a frontend's warm-up request (PullKvRequest.warm_up), not counted.
    /// </summary>
    private async Task PullOverlappedAsync(string kvId, bool countEarly, IServerStreamWriter<Proto.KvChunk> chunks, ServerCallContext context)
    {
        var progress = worker.BeginOverlappedPull(kvId) ?? throw NotHeld(kvId);
        try
        {
            var cancellation = context.CancellationToken;
            KvPayloadHeader header = default;
            if (!await progress.WaitForTokensAsync(0, cancellation) || !progress.TryCopy(s => header = KvTransfer.HeaderFor(s, worker.Fingerprint, progress.Tokens, fromToken: 0), out _))
                throw PrefillEnded(kvId);
            await StreamPayloadAsync(header, async (r, buffer, hash) =>
            {
                if (!await progress.WaitForTokensAsync((r + 1) * header.RecordTokens, cancellation)
                    || !progress.TryCopy(s => KvTransfer.WriteRecord(s, header, r, buffer, hash), out bool early))
                    throw PrefillEnded(kvId);
                if (early && countEarly) worker.CountBlockSentEarly(); // a frontend's warm-up pull is not the operator's
            }, chunks, context);
            var next = await progress.WaitForHoldAsync(cancellation) ?? throw PrefillEnded(kvId);
            await chunks.WriteAsync(new Proto.KvChunk { NextToken = NextTokenWire(next, progress.Tokens) });
        }
        finally
        {
            worker.EndPull(kvId);
        }
    }

    /// <summary>The engine's transfer payload as chunks: the header, each record as <paramref name="writeRecord"/> makes it, the checksum trailer.</summary>
    private static async Task StreamPayloadAsync(KvPayloadHeader header, Func<int, MemoryStream, XxHash3, Task> writeRecord,
        IServerStreamWriter<Proto.KvChunk> chunks, ServerCallContext context)
    {
        using var buffer = new MemoryStream();
        var hash = new XxHash3();
        buffer.SetLength(KvPayloadHeader.Size);
        header.Write(buffer.GetBuffer().AsSpan(0, KvPayloadHeader.Size));
        await SendAsync(chunks, buffer, context);
        for (int r = 0; r < header.RecordCount; r++)
        {
            buffer.SetLength(0);
            await writeRecord(r, buffer, hash);
            await SendAsync(chunks, buffer, context);
        }
        buffer.SetLength(KvPayloadHeader.TrailerSize);
        hash.GetCurrentHash(buffer.GetBuffer().AsSpan(0, KvPayloadHeader.TrailerSize));
        await SendAsync(chunks, buffer, context);
    }

    private static Proto.Token NextTokenWire(PrefilledToken next, int position)
    {
        var token = new Proto.Token { Position = position, TokenId = next.TokenId };
        ClusterProtocol.AddState(token.RandomState, next.RandomState);
        return token;
    }

    private static RpcException PrefillEnded(string kvId) =>
        new(new Status(StatusCode.NotFound, $"the prefill announced as '{kvId}' ended without KV (finished at its first token, cancelled or failed)"));

    /// <summary>Where a puller asked the payload to start: a position it holds the KV before (clamped to the KV held here).</summary>
    private static int FromToken(int requested, KvSequence sequence) =>
        requested < 0 ? throw new RpcException(new Status(StatusCode.InvalidArgument, $"from_token must be 0 or more; got {requested}"))
            : Math.Min(requested, sequence.Length - 1);

    /// <summary>Sends the buffer's bytes without copying them (the message is serialized before WriteAsync returns).</summary>
    private static Task SendAsync(IServerStreamWriter<Proto.KvChunk> chunks, MemoryStream buffer, ServerCallContext context)
    {
        context.CancellationToken.ThrowIfCancellationRequested();
        return chunks.WriteAsync(new Proto.KvChunk { Data = UnsafeByteOperations.UnsafeWrap(buffer.GetBuffer().AsMemory(0, (int)buffer.Length)) });
    }

    private RpcException NotHeld(string kvId) =>
        new(new Status(StatusCode.NotFound, $"no KV is held under '{kvId}' (released, freed by the {worker.KvLease.TotalSeconds:0.###} s lease, or being pulled)"));

    public override async Task<Proto.ShareKvReply> ShareKv(Proto.ShareKvRequest request, ServerCallContext context)
    {
        RequireRole(WorkerRole.Prefill, "ShareKv");
        if (!OperatingSystem.IsLinux() || SharedMemoryHost.Id is not { } host)
            return new Proto.ShareKvReply { Reason = $"the prefill worker has no {SharedMemoryHost.Directory}" };
        if (request.HostId != host)
            return new Proto.ShareKvReply { Reason = $"the prefill worker is on another host (or sees another {SharedMemoryHost.Directory})" };
        Proto.Token? next = null;
        if (request.Overlap)
        {
            // Announced KV: the file is written in one go once the prefill is done (a memory copy; the puller's blocks and
            // its Decode call are ready by then).
            var progress = worker.Announced(request.KvId) ?? throw NotHeld(request.KvId);
            next = NextTokenWire(await progress.WaitForHoldAsync(context.CancellationToken) ?? throw PrefillEnded(request.KvId), progress.Tokens);
        }
        var sequence = worker.BeginPull(request.KvId) ?? throw NotHeld(request.KvId);
        try
        {
            var file = SharedKvFile.Write(sequence, worker.Fingerprint, FromToken(request.FromToken, sequence));
            worker.FreeWithKv(request.KvId, file); // deleted with the KV: on release, or when the lease ends
            return new Proto.ShareKvReply { Path = file.Path, Bytes = file.Bytes, NextToken = next };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new Proto.ShareKvReply { Reason = $"the prefill worker cannot write to {SharedMemoryHost.Directory}: {e.Message}" };
        }
        finally
        {
            worker.EndPull(request.KvId);
        }
    }

    public override Task<Proto.ReleaseKvReply> ReleaseKv(Proto.ReleaseKvRequest request, ServerCallContext context)
    {
        RequireRole(WorkerRole.Prefill, "ReleaseKv");
        return Task.FromResult(new Proto.ReleaseKvReply { Released = worker.ReleaseKv(request.KvId) });
    }
}
