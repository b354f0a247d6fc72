using Tandem.Engine.KvCache;

namespace Tandem.Serving.Diagnostics;

/// <summary>
/// The most recent steps of one instance (<see cref="StepRecord"/>), in a ring preallocated at start so that recording
/// costs no allocation. Written by the instance's loop thread only; any thread may read what is there with
/// <see cref="ReadSince"/>, which leaves out the records the loop overwrote meanwhile. Also says what the bench needs to
/// rebuild a step: the instance's threads, cores and KV layout.
/// </summary>
public sealed class StepLog
{
    private readonly StepRecord[] _ring;
    private long _count;

    public StepLog(string instance, string role, IReadOnlyList<int> cores, int threads, KvElementType kvType, int blockSize, int capacity,
        StepLogModel? model = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Model = model;
        Instance = instance;
        Role = role;
        Cores = cores;
        Threads = threads;
        KvType = kvType;
        BlockSize = blockSize;
        _ring = new StepRecord[capacity];
    }

    /// <summary>The model the instance runs (null where the host did not say): a replay on another model is refused.</summary>
    public StepLogModel? Model { get; }
    public string Instance { get; }
    public string Role { get; }
    /// <summary>The cores the instance runs on (empty: not pinned).</summary>
    public IReadOnlyList<int> Cores { get; }
    /// <summary>Threads of the instance's team, its loop included.</summary>
    public int Threads { get; }
    public KvElementType KvType { get; }
    public int BlockSize { get; }
    /// <summary>Records kept: older ones are overwritten.</summary>
    public int Capacity => _ring.Length;
    /// <summary>Steps recorded since start (the next record's <see cref="StepRecord.Index"/>).</summary>
    public long Count => Volatile.Read(ref _count);

    /// <summary>Appends a record, numbering it (loop thread only).</summary>
    internal void Add(ref StepRecord record)
    {
        long n = _count;
        record.Index = n;
        _ring[n % _ring.Length] = record;
        Volatile.Write(ref _count, n + 1); // publishes the slot written above
    }

    /// <summary>
    /// The records numbered <paramref name="from"/> on that are still here, oldest first; <paramref name="lost"/> counts
    /// those already overwritten (the reader fell more than <see cref="Capacity"/> steps behind). The next call's
    /// <paramref name="from"/> is <paramref name="from"/> + <paramref name="lost"/> + the records returned.
    /// </summary>
    public StepRecord[] ReadSince(long from, out long lost)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(from);
        long end = Count;
        long first = Math.Max(from, end - _ring.Length);
        if (first >= end)
        {
            lost = Math.Max(0, end - from);
            return [];
        }
        var copy = new StepRecord[end - first];
        for (long i = first; i < end; i++) copy[i - first] = _ring[i % _ring.Length];
        Interlocked.MemoryBarrier(); // the copies above happen before the count is read again
        // While copying, the loop may have written records end..after-1 and be writing record `after`: each took the slot
        // of the record Capacity before it, so only those from after - Capacity + 1 on are whole.
        long after = Count;
        long valid = Math.Max(first, after - _ring.Length + 1);
        valid = Math.Min(valid, end);
        lost = valid - from;
        return valid == first ? copy : copy[(int)(valid - first)..];
    }
}
