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
    long WritesDropped, long Evictions, long WriteFailures);
