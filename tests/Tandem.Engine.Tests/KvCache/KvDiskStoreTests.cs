using Tandem.Engine.KvCache;
using Tandem.Engine.Model;

namespace Tandem.Engine.Tests.KvCache;

/// <summary>
/// The KV disk tier on real files: blocks evicted from a pool come back bit for bit, with the pool's accounting exact;
/// a corrupted, truncated or foreign file is a miss (never KV in a pool); the size bound holds with LRU eviction; the
/// index survives a restart; one process per directory.
/// </summary>
public sealed class KvDiskStoreTests : IDisposable
{
    private static readonly ModelFingerprint Model = KvPrefixCacheTests.Model;
    private readonly string _dir = TestPaths.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static KvBlockPool Pool(int blocks, int blockSize, KvElementType type = KvElementType.F32) => KvPrefixCacheTests.CachingPool(blocks, blockSize, type);

    private KvDiskStore Open(KvBlockPool pool, long capacityBlocks = 64, string? dir = null) =>
        KvDiskStore.Open(dir ?? _dir, capacityBlocks * KvDiskBlockFile.For(pool).FileBytes, KvDiskBlockFile.For(pool));

    /// <summary>The KV a position "computed": distinct per layer, key/value, token and element, exact in F16 too.</summary>
    private static float Value(int layer, bool key, int token, int position, int element) =>
        ((layer * 31 + (key ? 0 : 17) + token * 7 + position * 3 + element) % 2000) / 8f;

    /// <summary>A sequence holding <paramref name="tokens"/> with <see cref="Value"/> KV, its full blocks cached.</summary>
    private static KvSequence Computed(KvBlockPool pool, int[] tokens)
    {
        var s = pool.CreateSequence();
        Assert.True(s.TryReserve(tokens.Length));
        for (int p = 0; p < tokens.Length; p++)
        {
            int at = (s.Blocks[p / pool.BlockSize] * pool.BlockSize + p % pool.BlockSize) * pool.KvDim;
            for (int l = 0; l < pool.Layers; l++)
                for (int e = 0; e < pool.KvDim; e++)
                {
                    if (pool.ElementType == KvElementType.F32)
                    {
                        pool.KeysF32![l][at + e] = Value(l, true, tokens[p], p, e);
                        pool.ValuesF32![l][at + e] = Value(l, false, tokens[p], p, e);
                    }
                    else
                    {
                        pool.KeysF16![l][at + e] = (Half)Value(l, true, tokens[p], p, e);
                        pool.ValuesF16![l][at + e] = (Half)Value(l, false, tokens[p], p, e);
                    }
                }
        }
        s.Length = tokens.Length;
        pool.CacheFullBlocks(s, tokens);
        return s;
    }

    private static void AssertHolds(KvSequence s, int[] tokens, int count)
    {
        var pool = s.Pool;
        for (int p = 0; p < count; p++)
        {
            int at = (s.Blocks[p / pool.BlockSize] * pool.BlockSize + p % pool.BlockSize) * pool.KvDim;
            for (int l = 0; l < pool.Layers; l++)
                for (int e = 0; e < pool.KvDim; e++)
                {
                    float k = pool.ElementType == KvElementType.F32 ? pool.KeysF32![l][at + e] : (float)pool.KeysF16![l][at + e];
                    float v = pool.ElementType == KvElementType.F32 ? pool.ValuesF32![l][at + e] : (float)pool.ValuesF16![l][at + e];
                    if (k != Value(l, true, tokens[p], p, e) || v != Value(l, false, tokens[p], p, e))
                        Assert.Fail($"position {p} layer {l} element {e}: K {k} V {v}, expected K {Value(l, true, tokens[p], p, e)} V {Value(l, false, tokens[p], p, e)}");
                }
        }
    }

    /// <summary>Takes every block of the pool once (so every cached block is evicted, and offered to the disk), then frees them.</summary>
    private static void EvictEverything(KvBlockPool pool)
    {
        using var all = pool.CreateSequence();
        Assert.True(all.TryReserve(pool.BlockCount * pool.BlockSize));
        Assert.Equal(0, pool.CachedBlocks);
    }

    /// <summary>Computes <paramref name="prompt"/>, releases it, evicts it from RAM and waits until its full blocks are on disk.</summary>
    private static void Spilled(KvBlockPool pool, KvDiskStore store, int[] prompt)
    {
        Computed(pool, prompt).Release();
        EvictEverything(pool);
        store.Flush();
    }

    private static int[] Seq(int start, int count) => Enumerable.Range(start, count).ToArray();

    /// <summary>
    /// One store shared by several instances' pools (as in a server), each on its own thread, beside busy threads that
    /// take the cores at arbitrary instructions: spills, reads back and LRU evictions of a small store interleave, and
    /// the same blocks (shared prefixes) are written and read by different threads. Every block read back holds exactly
    /// its KV, no file fails its checks, and the store ends within its bound with its index equal to the directory.
    /// </summary>
    [Fact]
    public void Concurrent_spills_reads_and_evictions_keep_every_block_exact()
    {
        const int blockSize = 4, threads = 3, MinRounds = 3;
        var format = KvDiskBlockFile.For(Pool(8, blockSize));
        using var store = KvDiskStore.Open(_dir, 12 * format.FileBytes, format, maxQueuedWrites: 8);
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        long reads = 0, blocksRead = 0;
        using (new Contention.BusyThreads(Contention.BusyThreads.Cores, wakers: 2))
        {
            var until = DateTime.UtcNow + Contention.BusyThreads.TestDuration(3);
            var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
            {
                var pool = Pool(8, blockSize);
                pool.DiskTier = store;
                var random = new Random(t);
                // A few rounds whatever the clock says: on a loaded machine the whole window can pass before a thread's first
                // round ends (a fresh-clone CI once finished with no round at all). The first round waits for its spill to
                // land before reading, so the reads are exercised even when every later one races ahead of the writer.
                for (int round = 0; round < MinRounds || DateTime.UtcNow < until; round++)
                {
                    try
                    {
                        // A prefix shared by all threads (one of four), then this thread's own tokens: 1-5 full blocks and a partial one.
                        int[] prompt = [.. Seq(1000 * random.Next(4), blockSize * random.Next(0, 3)), .. Seq(10_000 * (t + 1) + random.Next(50), blockSize * random.Next(1, 4) + 2)];
                        Computed(pool, prompt).Release();
                        EvictEverything(pool);
                        if (round == 0) store.Flush();
                        int found = pool.ReadCachedPrefixFromDisk(prompt, prompt.Length - 1);
                        var s = pool.CreateSequence();
                        var match = pool.AttachCachedPrefix(s, prompt, prompt.Length - 1);
                        if (match.Tokens != found * blockSize) failures.Enqueue($"read {found} blocks, attached {match.Tokens} tokens");
                        AssertHolds(s, prompt, match.Tokens);
                        s.Release();
                        EvictEverything(pool);
                        Interlocked.Increment(ref reads);
                        Interlocked.Add(ref blocksRead, found);
                    }
                    catch (Exception e)
                    {
                        failures.Enqueue($"thread {t}: {e.GetType().Name}: {e.Message}");
                        return;
                    }
                }
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());
        }
        store.Flush();
        var stats = store.Stats();
        Assert.True(failures.IsEmpty, string.Join("\n", failures.Take(5)));
        Assert.True(blocksRead > 0, $"{reads} rounds read nothing back from disk: the test did not exercise reads");
        Assert.Equal(0, stats.Corrupt);
        Assert.True(stats.Bytes <= stats.CapacityBytes, $"{stats.Bytes} bytes stored over a bound of {stats.CapacityBytes}");
        Assert.Equal(stats.Blocks, Directory.GetFiles(_dir).Count(f => !f.EndsWith(".lock", StringComparison.Ordinal) && !f.EndsWith(".tmp", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData(KvElementType.F32, 4)]
    [InlineData(KvElementType.F16, 8)]
    public void EvictedBlocksComeBackFromDiskBitForBitWithExactAccounting(KvElementType type, int blockSize)
    {
        var pool = Pool(blocks: 8, blockSize, type);
        using var store = Open(pool);
        pool.DiskTier = store;
        int[] prompt = Seq(100, 3 * blockSize + 2); // three full blocks and a partial one
        Spilled(pool, store, prompt);
        Assert.Equal(3, store.Stats().Blocks);
        Assert.Equal(0, pool.FindCachedPrefix(prompt, prompt.Length - 1).Tokens); // nothing left in RAM

        Assert.Equal(3, pool.ReadCachedPrefixFromDisk(prompt, prompt.Length - 1));
        // Read back as cached blocks nobody holds: free to take, exactly as a RAM hit.
        Assert.Equal((pool.BlockCount, 3, 0), (pool.FreeBlocks, pool.CachedBlocks, pool.UsedBlocks));
        var s = pool.CreateSequence();
        var match = pool.AttachCachedPrefix(s, prompt, prompt.Length - 1);
        Assert.Equal(new KvPrefixMatch(3 * blockSize, 3, 3), match);
        AssertHolds(s, prompt, 3 * blockSize);
        Assert.Equal((3, 0), (pool.UsedBlocks, pool.CachedBlocks));
        s.Release();
        Assert.Equal((pool.BlockCount, 3, 0), (pool.FreeBlocks, pool.CachedBlocks, pool.UsedBlocks));
        var stats = store.Stats();
        Assert.Equal(3, stats.Hits);
        Assert.Equal(3L * store.Format.FileBytes, stats.BytesRead);

        // Already in RAM now: nothing is read again; a prefix longer than what is stored stops at the first miss.
        Assert.Equal(0, pool.ReadCachedPrefixFromDisk(prompt, prompt.Length - 1));
        int[] longer = [.. prompt[..(3 * blockSize)], .. Seq(900, 2 * blockSize)];
        Assert.Equal(0, pool.ReadCachedPrefixFromDisk(longer, longer.Length - 1));
        Assert.Equal(1, store.Stats().Misses);
    }

    [Fact]
    public void ThePrefixStillInRamIsNotEvictedToMakeRoomForItsContinuation()
    {
        // The prompt's first block is in RAM as the least recently used cached block, its next two blocks on disk, and
        // no block was never used: reading the two back evicts two cached blocks, which must not include the first.
        var pool = Pool(blocks: 4, blockSize: 4);
        using var store = Open(pool);
        pool.DiskTier = store;
        int[] prompt = Seq(1, 13);
        Spilled(pool, store, prompt);
        Computed(pool, prompt[..4]).Release();      // the first block again, in RAM, least recently used
        Computed(pool, Seq(500, 12)).Release();     // three blocks of another prompt take the rest
        Assert.Equal((4, 4), (pool.FreeBlocks, pool.CachedBlocks));

        Assert.Equal(2, pool.ReadCachedPrefixFromDisk(prompt, prompt.Length - 1));
        var s = pool.CreateSequence();
        Assert.Equal(12, pool.AttachCachedPrefix(s, prompt, prompt.Length - 1).Tokens);
        AssertHolds(s, prompt, 12);
        s.Release();
        Assert.Equal((0, 4, 4), (pool.UsedBlocks, pool.CachedBlocks, pool.FreeBlocks));
    }

    [Fact]
    public void NothingIsReadWhenTheRequestCouldNotBeAdmittedAnyway()
    {
        var pool = Pool(blocks: 4, blockSize: 4);
        using var store = Open(pool);
        pool.DiskTier = store;
        int[] prompt = Seq(1, 9);
        Spilled(pool, store, prompt);
        using var holder = pool.CreateSequence();
        Assert.True(holder.TryReserve(3 * 4)); // one block free; the prompt needs three
        Assert.Equal(0, pool.ReadCachedPrefixFromDisk(prompt, prompt.Length - 1));
        Assert.Equal(0, store.Stats().Hits + store.Stats().Misses);
    }

    [Theory]
    [InlineData("flip")]
    [InlineData("truncate")]
    [InlineData("tokens")]
    public void ACorruptedOrTruncatedFileIsAMissAndIsDeleted(string damage)
    {
        var pool = Pool(blocks: 4, blockSize: 4);
        using var store = Open(pool);
        pool.DiskTier = store;
        int[] prompt = Seq(50, 9);
        Spilled(pool, store, prompt);
        var hash = new KvPrefixHash(Model, 4, KvElementType.F32);
        string first = store.PathOf(hash.Next(hash.Root, prompt.AsSpan(0, 4)));
        var bytes = File.ReadAllBytes(first);
        switch (damage)
        {
            case "flip": bytes[bytes.Length / 2] ^= 0x40; break;                        // one bit of KV
            case "truncate": bytes = bytes[..(bytes.Length - 100)]; break;
            case "tokens":
                // Another token id with a checksum that matches it: only the token comparison tells (a hash collision).
                bytes[KvDiskBlockFile.HeaderSize] ^= 1;
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(bytes.Length - 8),
                    System.IO.Hashing.XxHash3.HashToUInt64(bytes.AsSpan(0, bytes.Length - 8)));
                break;
        }
        File.WriteAllBytes(first, bytes);

        Assert.Equal(0, pool.ReadCachedPrefixFromDisk(prompt, prompt.Length - 1));
        Assert.Equal(0, pool.FindCachedPrefix(prompt, prompt.Length - 1).Tokens);
        Assert.Equal((pool.BlockCount, 0, 0), (pool.FreeBlocks, pool.CachedBlocks, pool.UsedBlocks));
        var stats = store.Stats();
        Assert.Equal((0L, 1L, 1L, 1), (stats.Hits, stats.Misses, stats.Corrupt, stats.Blocks));
        Assert.False(File.Exists(first));
    }

    [Fact]
    public void AFileOfAnotherKvTypeUnderTheRightNameIsIgnoredAtStartUpAndNeverRead()
    {
        int[] prompt = Seq(7, 5);
        var f16 = Pool(blocks: 2, blockSize: 4, KvElementType.F16);
        string other = Path.Combine(_dir, "f16");
        using (var store16 = Open(f16, dir: other))
        {
            f16.DiskTier = store16;
            Computed(f16, prompt).Release();
            EvictEverything(f16);
        }
        // Renamed to the hash an F32 pool looks up: only the header (another chain root and type) tells it apart.
        var f32 = Pool(blocks: 2, blockSize: 4);
        var hash32 = f32.PrefixHash!.Next(f32.PrefixHash.Root, prompt.AsSpan(0, 4));
        string file16 = Directory.GetFiles(other, "*" + KvDiskBlockFile.Extension).Single();
        File.Copy(file16, Path.Combine(_dir, KvDiskBlockFile.FileName(hash32)));

        using var store = Open(f32);
        f32.DiskTier = store;
        Assert.Equal(1, store.ForeignFiles);
        Assert.Equal(0, store.Stats().Blocks);
        Assert.Equal(0, f32.ReadCachedPrefixFromDisk(prompt, prompt.Length - 1));
    }

    [Fact]
    public void TheSizeBoundHoldsByEvictingTheLeastRecentlyUsedBlock()
    {
        var pool = Pool(blocks: 2, blockSize: 4);
        using var store = Open(pool, capacityBlocks: 3);
        pool.DiskTier = store;
        var prompts = Enumerable.Range(0, 5).Select(i => Seq(1000 * (i + 1), 5)).ToArray(); // one full block each
        for (int i = 0; i < 3; i++) Spilled(pool, store, prompts[i]);
        // The oldest is used (read back, evicted from RAM again): the two next in age go first now.
        Assert.Equal(1, pool.ReadCachedPrefixFromDisk(prompts[0], 4));
        EvictEverything(pool);
        for (int i = 3; i < 5; i++)
        {
            Spilled(pool, store, prompts[i]);
            var s = store.Stats();
            Assert.InRange(s.Bytes, 0, s.CapacityBytes);
            Assert.True(Directory.GetFiles(_dir, "*" + KvDiskBlockFile.Extension).Length <= 3);
        }
        var stats = store.Stats();
        Assert.Equal((3, 2L), (stats.Blocks, stats.Evictions));
        var hash = pool.PrefixHash!;
        bool Stored(int[] p) => store.Contains(hash.Next(hash.Root, p.AsSpan(0, 4)));
        Assert.Equal(new[] { true, false, false, true, true }, prompts.Select(Stored));
    }

    [Fact]
    public void ARestartRebuildsTheIndexFromTheDirectoryAndOneProcessHoldsIt()
    {
        int[] prompt = Seq(300, 9);
        var pool = Pool(blocks: 4, blockSize: 4);
        using (var store = Open(pool))
        {
            pool.DiskTier = store;
            Assert.Throws<IOException>(() => Open(pool)); // the directory is taken
            Computed(pool, prompt).Release();
            pool.SpillCachedToDisk(); // what a shutdown does: RAM's cached blocks go to disk too
        }
        File.WriteAllBytes(Path.Combine(_dir, KvDiskBlockFile.FileName(12345) + ".tmp"), [1, 2, 3]); // an interrupted write

        var restarted = Pool(blocks: 4, blockSize: 4);
        using var reopened = Open(restarted);
        restarted.DiskTier = reopened;
        Assert.Equal(2, reopened.Stats().Blocks);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
        Assert.Equal(2, restarted.ReadCachedPrefixFromDisk(prompt, prompt.Length - 1));
        var s = restarted.CreateSequence();
        Assert.Equal(8, restarted.AttachCachedPrefix(s, prompt, prompt.Length - 1).Tokens);
        AssertHolds(s, prompt, 8);
    }

    [Fact]
    public void ADiskSizeBelowOneBlockIsRefusedWithTheNumbers()
    {
        var pool = Pool(blocks: 1, blockSize: 4);
        var e = Assert.Throws<ArgumentException>(() => KvDiskStore.Open(_dir, 1000, KvDiskBlockFile.For(pool)));
        Assert.Contains("below one block", e.Message);
    }
}
