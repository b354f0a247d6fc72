namespace Tandem.Engine.KvCache;

/// <summary>
/// The disk tier's state and counters since start: <see cref="Blocks"/> stored in <see cref="Bytes"/> of
/// <see cref="CapacityBytes"/>; lookups that left RAM and found the next block on disk (<see cref="Hits"/>, in blocks)
/// or not (<see cref="Misses"/>, of which <see cref="Corrupt"/> were files that failed their checks); bytes read back
/// and written; evicted blocks offered while every write buffer was queued (<see cref="WritesDropped"/>); blocks evicted
/// from disk for space; writes the file system refused.
/// </summary>
public readonly record struct KvDiskStats(
    int Blocks, long Bytes, long CapacityBytes, long Hits, long Misses, long Corrupt, long BytesRead, long BytesWritten,
    long WritesDropped, long Evictions, long WriteFailures)
{
    /// <summary>Two tiers' figures together (a cluster frontend's view of its workers' tiers).</summary>
    public static KvDiskStats operator +(KvDiskStats a, KvDiskStats b) => new(
        a.Blocks + b.Blocks, a.Bytes + b.Bytes, a.CapacityBytes + b.CapacityBytes, a.Hits + b.Hits, a.Misses + b.Misses,
        a.Corrupt + b.Corrupt, a.BytesRead + b.BytesRead, a.BytesWritten + b.BytesWritten, a.WritesDropped + b.WritesDropped,
        a.Evictions + b.Evictions, a.WriteFailures + b.WriteFailures);
}
