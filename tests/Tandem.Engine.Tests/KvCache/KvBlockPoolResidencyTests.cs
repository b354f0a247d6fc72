using System.Runtime.InteropServices;
using Tandem.Engine.KvCache;

namespace Tandem.Engine.Tests.KvCache;

/// <summary>
/// The pool is resident once built: a server's memory is its configured budget from the start, not a figure that
/// creeps up for minutes while the allocator walks never-used blocks (what the overload run saw before).
/// </summary>
public class KvBlockPoolResidencyTests
{
    [SkippableFact]
    public void A_new_pool_is_resident_at_once()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "page residency is read with mincore(2) (Linux here)");
        using var model = Tandem.Engine.Model.LanguageModel.Load(TestPaths.Model("stories260K.gguf"));
        var pool = KvBlockPool.FromBudget(model.Config, 256L << 20, blockSize: 16, KvElementType.F32);
        // The pool's own pages, asked of the kernel page by page: the process's resident set (what this test read before)
        // also moves with whatever other tests allocate and free at the same time, and once fell short under load.
        long resident = 0, total = 0;
        foreach (var layer in pool.KeysF32!.Concat(pool.ValuesF32!))
        {
            var (r, t) = ResidentPages(layer);
            resident += r;
            total += t;
        }
        GC.KeepAlive(pool);
        // Untouched, a fresh pool's pages are not resident at all; committed, all of them are (short of memory pressure).
        Assert.True(resident >= total * 95 / 100, $"{resident} of the pool's {total} pages are resident: its pages are not committed");
    }

    /// <summary>Resident and total pages under an array of the pinned object heap (where the pool's arrays live: it never moves).</summary>
    private static (long Resident, long Total) ResidentPages(float[] array)
    {
        long page = Environment.SystemPageSize;
        long address = Marshal.UnsafeAddrOfPinnedArrayElement(array, 0);
        // Whole pages inside the array only: its first and last pages are shared with other objects.
        long start = (address + page - 1) / page * page, end = (address + (long)array.Length * sizeof(float)) / page * page;
        long pages = (end - start) / page;
        if (pages <= 0) return (0, 0);
        var vector = new byte[pages];
        if (mincore((nint)start, (nuint)(end - start), vector) != 0)
            throw new InvalidOperationException($"mincore failed: errno {Marshal.GetLastPInvokeError()}");
        long resident = 0;
        foreach (byte b in vector) resident += b & 1;
        return (resident, pages);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int mincore(nint address, nuint length, [Out] byte[] vector);
}
