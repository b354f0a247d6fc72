using System.Diagnostics;
using Grpc.Core;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Serving.Scheduling;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Cluster;

/// <summary>
/// KV held on a remote prefill worker, pulled by a decode worker's loop: PullKv streams the checksummed payload
/// chunk by chunk straight into <see cref="KvTransfer.Import(KvBlockPool, ModelFingerprint, Stream)"/> (no whole
/// copy in memory), which verifies the trailer checksum before the sequence is usable; ReleaseKv then lets the
/// holder free its copy. A broken or corrupt stream throws, and the request is recomputed.
/// </summary>
internal sealed class GrpcKvSource(Proto.Worker.WorkerClient holder, string kvId, string address) : IKvSource
{
    /// <summary>Longest a pull may take before it counts as failed (a stalled holder must not stall the decode loop forever).</summary>
    public static readonly TimeSpan PullTimeout = TimeSpan.FromSeconds(60);

    private readonly TaskCompletionSource _pulled = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public long BytesPulled { get; private set; }
    /// <summary>The pull itself, measured here: from opening PullKv to the checksum verified.</summary>
    public double PullSeconds { get; private set; }
    /// <summary>Completes when the KV is imported (faults when the pull failed), before the first decode step.</summary>
    public Task Pulled => _pulled.Task;

    public KvSequence PullInto(KvBlockPool pool, ModelFingerprint model, MemoryStream scratch, out long bytes)
    {
        var clock = Stopwatch.StartNew();
        using var call = holder.PullKv(new Proto.PullKvRequest { KvId = kvId }, deadline: DateTime.UtcNow + PullTimeout);
        using var stream = new KvChunkReadStream(call.ResponseStream);
        try
        {
            var sequence = KvTransfer.Import(pool, model, stream);
            bytes = BytesPulled = stream.BytesRead;
            PullSeconds = clock.Elapsed.TotalSeconds;
            _pulled.TrySetResult();
            return sequence;
        }
        catch (RpcException e)
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

    /// <summary>Confirms the import (or gives up the KV); the holder's lease frees it if this call is lost.</summary>
    public void Release() => _ = ReleaseAsync();

    private async Task ReleaseAsync()
    {
        try
        {
            await holder.ReleaseKvAsync(new Proto.ReleaseKvRequest { KvId = kvId }, deadline: DateTime.UtcNow.AddSeconds(10));
        }
        catch (RpcException)
        {
            // The holder is gone or unreachable: its KV went with it, or its lease frees it.
        }
    }
}
