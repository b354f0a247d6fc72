namespace Tandem.Serving.Scheduling;

/// <summary>Block accounting without memory: for scheduler tests and the simulator.</summary>
public sealed class CountingKvCacheManager(int totalBlocks, int blockSize) : IKvCacheManager
{
    private readonly Dictionary<Request, int> _held = new(ReferenceEqualityComparer.Instance);

    public int TotalBlocks { get; } = totalBlocks;
    public int FreeBlocks { get; private set; } = totalBlocks;
    public int BlockSize { get; } = blockSize;

    public int BlocksHeld(Request request) => _held.GetValueOrDefault(request);

    public bool TryAllocateSlots(Request request, int totalTokens)
    {
        int held = _held.GetValueOrDefault(request);
        int need = (totalTokens + BlockSize - 1) / BlockSize - held;
        if (need <= 0) return true;
        if (need > FreeBlocks) return false;
        FreeBlocks -= need;
        _held[request] = held + need;
        return true;
    }

    public void Free(Request request)
    {
        if (_held.Remove(request, out int held)) FreeBlocks += held;
    }
}
