namespace Tandem.Engine.KvCache;

/// <summary>A step needed more KV blocks than the pool had free (schedulers reserve before stepping).</summary>
public sealed class KvPoolExhaustedException(int needed, int free)
    : Exception($"the KV pool has {free} free blocks but the step needs {needed} more")
{
    public int Needed { get; } = needed;
    public int Free { get; } = free;
}
