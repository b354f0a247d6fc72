using System.Diagnostics;
using Grpc.Core;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Serving.Scheduling;
using Tandem.Serving.Workers;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Cluster;

/// <summary>
/// KV held on a remote prefill worker, pulled for a decode worker off its loop (the loop keeps decoding its other
/// requests), from the first position the decode pool's prefix cache lacks. Over the network, PullKv streams the checksummed payload chunk by chunk straight into the blocks the
/// loop reserved (<see cref="KvTransfer.ImportInto"/>, no whole copy in memory); on one host (--kv-transport shm|auto), ShareKv has the holder write the same payload
/// to a shared-memory file, which this side maps and imports. Either way the checksum is verified before the sequence
/// is usable, and ReleaseKv then lets the holder free its copy (and the file). A broken or corrupt transfer throws,
/// and the request is recomputed. KV announced while its prefill runs (--kv-overlap, <paramref name="overlapped"/>) comes
/// block by block as the prefill computes it, and brings the token the prefill sampled after it (<see cref="NextToken"/>).
/// The KV of a frontend's warm-up request (<paramref name="warmUp"/>) is pulled the same way but not counted in the
/// worker's pull counts (its /health), and its pull tells the holder so.
/// </summary>
internal sealed class RemoteKvSource(Proto.Worker.WorkerClient holder, string kvId, string address, KvPuller puller, bool overlapped = false, bool warmUp = false) : IKvSource
{
    /// <summary>Longest a pull may take before it counts as failed (a stalled holder must not hold the request's blocks forever).</summary>
    public static readonly TimeSpan PullTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The pull's deadline: none for an overlapped one, which waits for the prefill to compute the prompt (minutes for a long
    /// one on a busy CPU). It is no less bounded: the frontend cancels the Decode call (and so this pull) as soon as the
    /// prefill call ends without KV, and a holder that dies breaks the stream.
    /// </summary>
    private DateTime? Deadline => overlapped ? null : DateTime.UtcNow + PullTimeout;

    private readonly TaskCompletionSource _pulled = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public long BytesPulled { get; private set; }
    /// <summary>Tokens of the KV the decode pool held cached already (the pull started after them).</summary>
    public int ReusedTokens { get; private set; }
    /// <summary>The pull itself, measured here: from asking the holder to the checksum verified.</summary>
    public double PullSeconds { get; private set; }
    /// <summary>Completes when the KV is imported (faults when the pull failed), before the first decode step.</summary>
    public Task Pulled => _pulled.Task;

    public bool IsRemote => true;

    /// <summary>Pulled while its prefill runs: the KV holds every token of the request, and the next one comes with it.</summary>
    public bool Overlapped => overlapped;

    public PrefilledToken? NextToken { get; private set; }

    public long PullInto(KvSequence reserved, ModelFingerprint model, MemoryStream? scratch, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        ReusedTokens = reserved.Length;
        try
        {
            long? shared = puller.Transport == KvTransport.Grpc ? null : PullShared(reserved, model, cancellation);
            long bytes = shared ?? PullStream(reserved, model, cancellation);
            BytesPulled = bytes;
            PullSeconds = clock.Elapsed.TotalSeconds;
            _pulled.TrySetResult();
            return bytes;
        }
        catch (RpcException e) when (!cancellation.IsCancellationRequested)
        {
            var failed = new KvPayloadException($"pulling KV {kvId} from {address} failed: {e.Status.StatusCode}: {e.Status.Detail}", e);
            _pulled.TrySetException(failed);
            throw failed;
        }
        catch (Exception e)
        {
            _pulled.TrySetException(e);
            throw;
        }
    }

    private long PullStream(KvSequence reserved, ModelFingerprint model, CancellationToken cancellation)
    {
        // An overlapped pull streams from the first block whatever from_token says; the import drops what is held here.
        using var call = holder.PullKv(new Proto.PullKvRequest { KvId = kvId, Overlap = overlapped, FromToken = reserved.Length, WarmUp = warmUp }, deadline: Deadline, cancellationToken: cancellation);
        using var stream = new KvChunkReadStream(call.ResponseStream, cancellation);
        KvTransfer.ImportInto(reserved, model, stream);
        if (overlapped) NextToken = Next(stream.ReadNextToken(), reserved);
        if (!warmUp) puller.CountStreamed();
        return stream.BytesRead;
    }

    /// <summary>The KV through a shared-memory file, or null (with --kv-transport auto) when the holder cannot share memory with this worker.</summary>
    private long? PullShared(KvSequence reserved, ModelFingerprint model, CancellationToken cancellation)
    {
        if (SharedMemoryHost.Id is not { } host) return Unshared($"this host has no {SharedMemoryHost.Directory}");
        Proto.ShareKvReply reply;
        try
        {
            reply = holder.ShareKv(new Proto.ShareKvRequest { KvId = kvId, HostId = host, Overlap = overlapped, FromToken = reserved.Length }, deadline: Deadline, cancellationToken: cancellation);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unimplemented)
        {
            return Unshared("it does not offer shared memory");
        }
        if (reply.Path.Length == 0) return Unshared(reply.Reason);
        if (!SharedKvFile.IsKvFile(reply.Path))
            throw new KvPayloadException($"the prefill worker at {address} named '{reply.Path}', which is not a KV file in {SharedMemoryHost.Directory}");
        try
        {
            long bytes = SharedKvFile.ImportInto(reply.Path, reserved, model);
            if (overlapped) NextToken = Next(reply.NextToken, reserved);
            if (!warmUp) puller.CountShared();
            return bytes;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Unshared($"cannot map {reply.Path}: {e.Message}");
        }
    }

    /// <summary>The token an overlapped pull ends with, checked: it must come, right after the KV's tokens.</summary>
    private PrefilledToken Next(Proto.Token? token, KvSequence imported)
    {
        if (token is null)
            throw new KvPayloadException($"KV {kvId} from {address} was pulled while its prefill ran but came without the token sampled after it");
        if (token.Position != imported.Length)
            throw new KvPayloadException($"KV {kvId} from {address} holds {imported.Length} tokens but the token sampled after it is at position {token.Position}");
        return new PrefilledToken(token.TokenId, ClusterProtocol.State(token.RandomState));
    }

    private long? Unshared(string why)
    {
        string message = $"KV from the prefill worker at {address} cannot come through shared memory: {why}";
        if (puller.Transport == KvTransport.Shm) throw new KvPayloadException($"{message} (--kv-transport shm; auto falls back to the gRPC stream)");
        puller.Warn($"{message}; pulling over gRPC");
        return null;
    }

    /// <summary>Confirms the import (or gives up the KV), retried when it times out (<see cref="KvRelease"/>); the holder's lease frees it if every try is lost.</summary>
    public void Release() => _ = KvRelease.SendAsync(holder, kvId, address, puller.Warn);
}
