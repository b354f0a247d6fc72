using System.Runtime.InteropServices;
using Tandem.Bench;

namespace Tandem.Bench.Tests;

[CollectionDefinition(nameof(PeakResidentMemoryTests), DisableParallelization = true)]
public class PeakResidentMemoryCollection;

/// <summary>Alone in its collection, so that no other test's allocations move this process's peak meanwhile.</summary>
[Collection(nameof(PeakResidentMemoryTests))]
public class PeakResidentMemoryTests
{
    [SkippableFact]
    public unsafe void The_peak_follows_touched_memory_and_resets()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "VmHWM and clear_refs are Linux's");
        Assert.True(PeakResidentMemory.Reset(), "writing /proc/self/clear_refs failed");
        long before = PeakResidentMemory.Read()!.Value;

        const long size = 96L << 20;
        byte* p = (byte*)NativeMemory.Alloc((nuint)size);
        long during;
        try
        {
            for (long i = 0; i < size; i += 4096) p[i] = 1; // touch every page: resident now
            during = PeakResidentMemory.Read()!.Value;
        }
        finally
        {
            NativeMemory.Free(p); // glibc returns a block this large to the OS at once
        }
        Assert.True(during - before >= size - (8L << 20), $"peak rose {(during - before) >> 20} MiB for {size >> 20} MiB touched");

        Assert.True(PeakResidentMemory.Reset());
        long after = PeakResidentMemory.Read()!.Value;
        Assert.True(after <= during - (64L << 20), $"peak after the reset {after >> 20} MiB, before it {during >> 20} MiB");
    }
}
