using Tandem.Engine.KvCache;
using Tandem.Engine.Model;

namespace Tandem.Serving.Scheduling;

/// <summary>
/// Where a prefilled request's KV waits for the decode side to pull it: a prefill instance in this process, or a
/// prefill worker in another (the cluster's gRPC pull). The decode instance reserves the blocks, starting from the
/// prefix of the KV it holds cached already, has <see cref="PullInto"/> fill the rest once, then calls
/// <see cref="Release"/> whatever happened, so the holder frees its copy only once the import is confirmed (or will
/// never come).
/// </summary>
public interface IKvSource
{
    /// <summary>
    /// True when the pull waits on another process (a network stream, a peer's file): the decode instance runs it off
    /// its loop, and its other requests keep decoding meanwhile. False: a memory copy in this process, done on the loop.
    /// </summary>
    bool IsRemote { get; }

    /// <summary>
    /// Copies the KV into <paramref name="reserved"/> (a sequence of the decode pool, its blocks allocated by the decode
    /// loop, holding the KV of its first Length positions already: the source sends from there on) and returns the
    /// payload bytes moved. <paramref name="scratch"/> is the loop's reusable buffer (null for a
    /// pull off the loop). Throws <see cref="KvPayloadException"/> (checksum, truncation, another model), the
    /// transport's error, or <see cref="OperationCanceledException"/> once <paramref name="cancellation"/> fires; the
    /// sequence is then left as it was for the caller to free.
    /// </summary>
    long PullInto(KvSequence reserved, ModelFingerprint model, MemoryStream? scratch, CancellationToken cancellation);

    /// <summary>Tells the holder it may free its copy (imported, or no longer wanted).</summary>
    void Release();

    /// <summary>
    /// After a successful <see cref="PullInto"/> of KV pulled while its prefill ran (--kv-overlap): the token the prefill
    /// sampled after it, which the request takes before it decodes. Null for a pull after prefill (the request has it).
    /// </summary>
    Workers.PrefilledToken? NextToken => null;
}
