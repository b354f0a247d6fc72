using System.Buffers;
using System.Diagnostics;
using System.IO.Hashing;
using Google.Protobuf;
using Grpc.Core;
using Tandem.Engine.Generation;
using Tandem.Engine.KvCache;
using Tandem.Server.Generation;
using Tandem.Serving;
using Tandem.Serving.Workers;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Cluster;

/// <summary>
/// A worker's side of Protos/worker.proto over its <see cref="WorkerRuntime"/>: handshake, status, Prefill and
/// Decode streams (token by token, then how the request ended or that its KV is held / lost), and the KV pull.
/// </summary>
internal sealed class WorkerService(WorkerRuntime worker, ClusterChannels channels) : Proto.Worker.WorkerBase
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
        return Task.FromResult(new Proto.HelloReply
        {
            ProtocolVersion = ClusterProtocol.Version,
            Role = ClusterProtocol.RoleName(worker.Role),
            ModelFingerprintHigh = own.High,
            ModelFingerprintLow = own.Low,
            BlockSize = worker.BlockSize,
            KvBlocksTotal = worker.KvBlocksTotal,
            MaxContext = worker.MaxContext,
        });
    }

    public override Task<Proto.WorkerStatus> Status(Proto.StatusRequest request, ServerCallContext context)
    {
        var s = worker.Snapshot();
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
            KvBlocksCached = s.KvBlocksCached,
            PrefixCacheQueries = s.PrefixCacheQueries,
            PrefixCacheHits = s.PrefixCacheHits,
        });
    }

    public override Task Prefill(Proto.GenerateRequest request, IServerStreamWriter<Proto.WorkerEvent> events, ServerCallContext context)
    {
        RequireRole(WorkerRole.Prefill, "Prefill");
        return RunAsync(request, null, events, context);
    }

    public override Task Decode(Proto.GenerateRequest request, IServerStreamWriter<Proto.WorkerEvent> events, ServerCallContext context)
    {
        RequireRole(WorkerRole.Decode, "Decode");
        if (request.Kv is not { } kv || string.IsNullOrEmpty(kv.Address) || string.IsNullOrEmpty(kv.KvId))
            throw new RpcException(new Status(StatusCode.InvalidArgument, "Decode needs the KV's location (kv.address, kv.kv_id)"));
        if (kv.Tokens != request.TokenIds.Count - 1)
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"the KV holds {kv.Tokens} tokens but the request has {request.TokenIds.Count}: it must hold all but the last"));
        return RunAsync(request, new GrpcKvSource(channels.Worker(kv.Address), kv.KvId, kv.Address), events, context);
    }

    private void RequireRole(WorkerRole role, string call)
    {
        if (worker.Role != role)
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"{call} goes to a {ClusterProtocol.RoleName(role)} worker; this one is a {ClusterProtocol.RoleName(worker.Role)} worker"));
    }

    private async Task RunAsync(Proto.GenerateRequest request, GrpcKvSource? kv, IServerStreamWriter<Proto.WorkerEvent> events, ServerCallContext context)
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
            }, kv);
        }
        catch (Exception e) when (e is RequestRejectedException or ArgumentException)
        {
            kv?.Release(); // nobody else will tell the holder
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        var handle = submission.Handle;
        using var cancel = context.CancellationToken.Register(handle.Cancel); // the frontend went away or cancelled
        var reader = handle.Tokens;
        int position = request.TokenIds.Count;
        bool importedSent = false;
        try
        {
            while (true)
            {
                // Said as soon as the pull is done, before the first decode step, so the frontend times the transfer alone.
                if (kv != null && !importedSent && kv.Pulled.IsCompletedSuccessfully) { importedSent = true; await events.WriteAsync(Imported(kv)); }
                while (reader.TryRead(out var t))
                {
                    if (t.TokenId < 0) continue; // text flush: the frontend owns the text
                    await events.WriteAsync(TokenEvent(position++, t));
                }
                if (submission.Held is { IsCompletedSuccessfully: true } held)
                {
                    while (reader.TryRead(out var t))
                        if (t.TokenId >= 0) await events.WriteAsync(TokenEvent(position++, t));
                    await events.WriteAsync(new Proto.WorkerEvent { KvHeld = new Proto.KvHeld { KvId = held.Result.Id, Tokens = held.Result.Tokens } });
                    return;
                }
                var more = reader.WaitToReadAsync(context.CancellationToken).AsTask();
                if (submission.Held is { IsCompleted: false } h) await Task.WhenAny(more, h);
                else if (kv != null && !importedSent && !kv.Pulled.IsCompleted) await Task.WhenAny(more, kv.Pulled);
                else await more;
                if (more.IsCompletedSuccessfully && !more.Result) break; // the stream completed
            }
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested) { return; }
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
            await events.WriteAsync(new Proto.WorkerEvent { Recompute = new Proto.Recompute { Reason = e.Message } });
            return;
        }
        if (kv != null && !importedSent && outcome.FinishReason != FinishReason.Cancelled) await events.WriteAsync(Imported(kv));
        await events.WriteAsync(new Proto.WorkerEvent { Finished = new Proto.Finished { Reason = FinishReasons.ToApi(outcome.FinishReason) } });
    }

    private static Proto.WorkerEvent Imported(GrpcKvSource kv) =>
        new() { KvImported = new Proto.KvImported { Bytes = kv.BytesPulled, Seconds = kv.PullSeconds } };

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
        var sequence = worker.BeginPull(request.KvId)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"no KV is held under '{request.KvId}' (released, freed by the {worker.KvLease.TotalSeconds:0.###} s lease, or being pulled)"));
        try
        {
            var header = KvTransfer.HeaderFor(sequence, worker.Fingerprint);
            using var buffer = new MemoryStream();
            var hash = new XxHash3();
            buffer.SetLength(KvPayloadHeader.Size);
            header.Write(buffer.GetBuffer().AsSpan(0, KvPayloadHeader.Size));
            await SendAsync(chunks, buffer, context);
            for (int r = 0; r < header.RecordCount; r++)
            {
                buffer.SetLength(0);
                KvTransfer.WriteRecord(sequence, header, r, buffer, hash);
                await SendAsync(chunks, buffer, context);
            }
            buffer.SetLength(KvPayloadHeader.TrailerSize);
            hash.GetCurrentHash(buffer.GetBuffer().AsSpan(0, KvPayloadHeader.TrailerSize));
            await SendAsync(chunks, buffer, context);
        }
        finally
        {
            worker.EndPull(request.KvId);
        }
    }

    /// <summary>Sends the buffer's bytes without copying them (the message is serialized before WriteAsync returns).</summary>
    private static Task SendAsync(IServerStreamWriter<Proto.KvChunk> chunks, MemoryStream buffer, ServerCallContext context)
    {
        context.CancellationToken.ThrowIfCancellationRequested();
        return chunks.WriteAsync(new Proto.KvChunk { Data = UnsafeByteOperations.UnsafeWrap(buffer.GetBuffer().AsMemory(0, (int)buffer.Length)) });
    }

    public override Task<Proto.ReleaseKvReply> ReleaseKv(Proto.ReleaseKvRequest request, ServerCallContext context)
    {
        RequireRole(WorkerRole.Prefill, "ReleaseKv");
        return Task.FromResult(new Proto.ReleaseKvReply { Released = worker.ReleaseKv(request.KvId) });
    }
}
