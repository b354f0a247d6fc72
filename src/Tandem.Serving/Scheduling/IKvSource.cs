using Tandem.Engine.KvCache;
using Tandem.Engine.Model;

namespace Tandem.Serving.Scheduling;

/// <summary>
/// Where a prefilled request's KV waits for the decode side to pull it: a prefill instance in this process, or a
/// prefill worker in another (the cluster's gRPC pull). The decode instance's loop calls <see cref="PullInto"/>
/// once, then <see cref="Release"/> whatever happened, so the holder frees its copy only once the import is
/// confirmed (or will never come).
/// </summary>
public interface IKvSource
{
    /// <summary>
    /// Copies the KV into a new sequence of <paramref name="pool"/>; <paramref name="bytes"/> is the payload moved.
    /// Throws <see cref="KvPayloadException"/> (checksum, truncation, another model) or the transport's error;
    /// the pool is then left as it was.
    /// </summary>
    KvSequence PullInto(KvBlockPool pool, ModelFingerprint model, MemoryStream scratch, out long bytes);

    /// <summary>Tells the holder it may free its copy (imported, or no longer wanted).</summary>
    void Release();
}
