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
        Skip.IfNot(File.Exists("/proc/self/status"), "resident set is read from /proc/self/status (Linux only)");
        using var model = Tandem.Engine.Model.LanguageModel.Load(TestPaths.Model("stories260K.gguf"));
        const long budget = 256L << 20;
        long before = ResidentBytes();
        var pool = KvBlockPool.FromBudget(model.Config, budget, blockSize: 16, KvElementType.F32);
        long grown = ResidentBytes() - before;
        long poolBytes = pool.BytesPerBlock * pool.BlockCount;
        GC.KeepAlive(pool);
        // Other tests in the process may free memory meanwhile, so allow a margin; untouched, the pool adds ~0.
        Assert.True(grown >= poolBytes * 3 / 4,
            $"resident set grew by {grown >> 20} MiB for a pool of {poolBytes >> 20} MiB: its pages are not committed");
    }

    private static long ResidentBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim()) * 1024;
        throw new InvalidOperationException("no VmRSS line in /proc/self/status");
    }
}
