using Tandem.Engine.KvCache;
using Tandem.Engine.Model;

namespace Tandem.Engine.Tests.KvCache;

/// <summary>
/// Automatic prefix caching in the pool: hashing, hits, token comparison, LRU eviction, exact free / cached / used
/// accounting, and (what makes it safe) logits after a cached prefix bit-identical to computing the whole prompt.
/// </summary>
public class KvPrefixCacheTests
{
    internal static readonly ModelFingerprint Model = new(0x1234, 0x5678);

    private static ModelConfig Config()
    {
        using var model = LanguageModel.Load(TestPaths.Model("stories260K.gguf"));
        return model.Config;
    }

    internal static KvBlockPool CachingPool(int blocks, int blockSize, KvElementType type = KvElementType.F32)
    {
        var pool = new KvBlockPool(Config(), blocks, blockSize, type);
        pool.EnablePrefixCaching(Model);
        return pool;
    }

    /// <summary>A sequence that "computed" <paramref name="tokens"/> (the KV values do not matter for accounting).</summary>
    private static KvSequence Filled(KvBlockPool pool, int[] tokens)
    {
        var s = pool.CreateSequence();
        Assert.True(s.TryReserve(tokens.Length));
        s.Length = tokens.Length;
        pool.CacheFullBlocks(s, tokens);
        return s;
    }

    private static int[] Seq(int start, int count) => Enumerable.Range(start, count).ToArray();

    [Fact]
    public void HashChainsOverPrefixAndIsKeyedByModelBlockSizeAndKvType()
    {
        var h = new KvPrefixHash(Model, 4, KvElementType.F16);
        int[] a = [1, 2, 3, 4], b = [5, 6, 7, 8];
        var ha = h.Next(h.Root, a);
        Assert.Equal(ha, new KvPrefixHash(Model, 4, KvElementType.F16).Next(h.Root, a)); // deterministic, not per process
        Assert.NotEqual(h.Next(ha, b), h.Next(h.Next(h.Root, b), b));                      // same block, other prefix
        Assert.NotEqual(h.Root, KvPrefixHash.RootOf(Model, 8, KvElementType.F16));
        Assert.NotEqual(h.Root, KvPrefixHash.RootOf(Model, 4, KvElementType.F32));
        Assert.NotEqual(h.Root, KvPrefixHash.RootOf(new ModelFingerprint(1, 2), 4, KvElementType.F16));
        Span<UInt128> chain = stackalloc UInt128[4];
        Assert.Equal(2, h.Chain([1, 2, 3, 4, 5, 6, 7, 8, 9], chain));
        Assert.Equal(ha, chain[0]);
        Assert.Equal(h.Next(ha, b), chain[1]);
    }

    [Fact]
    public void ReleasedFullBlocksStayCachedAndANewSequenceTakesTheLongestPrefix()
    {
        var pool = CachingPool(blocks: 8, blockSize: 4);
        int[] prompt = Seq(10, 11); // blocks [10..13] [14..17], then 3 tokens in a partial block
        var a = Filled(pool, prompt);
        Assert.Equal(3, pool.UsedBlocks);
        Assert.Equal(2, pool.IndexedBlocks); // only full blocks
        a.Release();
        Assert.Equal(0, pool.UsedBlocks);
        Assert.Equal(2, pool.CachedBlocks);
        Assert.Equal(8, pool.FreeBlocks); // cached blocks are free to take

        // Same first 8 tokens, another tail: 2 blocks hit, both unreferenced.
        int[] other = [.. prompt[..8], 99, 98, 97, 96, 95];
        var match = pool.FindCachedPrefix(other, other.Length - 1);
        Assert.Equal(new KvPrefixMatch(8, 2, 2), match);
        var b = pool.CreateSequence();
        Assert.Equal(match, pool.AttachCachedPrefix(b, other, other.Length - 1));
        Assert.Equal(8, b.Length);
        Assert.Equal(2, pool.UsedBlocks);
        Assert.Equal(0, pool.CachedBlocks);

        // A second sharer references the same blocks: nothing unreferenced now, nothing more used.
        var c = pool.CreateSequence();
        Assert.Equal(new KvPrefixMatch(8, 2, 0), pool.AttachCachedPrefix(c, other, other.Length - 1));
        Assert.Equal(b.Blocks.ToArray(), c.Blocks.ToArray());
        Assert.Equal(2, pool.UsedBlocks);
        Assert.Equal(2, pool.RefCount(b.Blocks[0]));

        // At most maxTokens: the last token of a prompt that is all cached is computed again.
        Assert.Equal(4, pool.FindCachedPrefix(prompt[..8], 7).Tokens);
        // A different first block: no hit at all, however much else matches.
        Assert.Equal(0, pool.FindCachedPrefix([0, .. prompt[1..]], 10).Tokens);
        b.Release();
        c.Release();
        Assert.Equal(2, pool.CachedBlocks);
    }

    [Fact]
    public void AHashHitWithOtherTokensIsAMiss()
    {
        var cache = new KvPrefixCache(new KvPrefixHash(Model, 4, KvElementType.F32), blockCount: 4);
        UInt128 hash = 42;
        Assert.True(cache.TryAdd(block: 1, hash, [1, 2, 3, 4]));
        Assert.Equal(1, cache.Find(hash, [1, 2, 3, 4]));
        Assert.Equal(-1, cache.Find(hash, [1, 2, 3, 5])); // a collision never returns someone else's KV
        Assert.False(cache.TryAdd(block: 2, hash, [9, 9, 9, 9])); // first holder keeps the hash
    }

    [Fact]
    public void EvictionTakesNeverUsedBlocksFirstThenLeastRecentlyReleased()
    {
        var pool = CachingPool(blocks: 4, blockSize: 2);
        var a = Filled(pool, [1, 2, 3, 4]); // 2 blocks
        var b = Filled(pool, [5, 6, 7, 8]); // 2 blocks
        a.Release(); // a's blocks released first: evicted first
        b.Release();
        Assert.Equal(4, pool.CachedBlocks);
        Assert.Equal(4, pool.FreeBlocks);

        var c = pool.CreateSequence();
        Assert.True(c.TryReserve(4)); // needs 2 blocks: a's go
        Assert.Equal(2, pool.CachedBlocks);
        Assert.Equal(0, pool.FindCachedPrefix([1, 2, 3, 4, 0], 4).Tokens);
        Assert.Equal(4, pool.FindCachedPrefix([5, 6, 7, 8, 0], 4).Tokens);
        // Within a sequence the tail goes first (released last to first), so a shorter prefix survives longer.
        Assert.True(c.TryReserve(6));
        Assert.Equal(2, pool.FindCachedPrefix([5, 6, 7, 8, 0], 4).Tokens);
        Assert.Equal(3, pool.UsedBlocks);
        Assert.Equal(1, pool.CachedBlocks);
    }

    [Fact]
    public void TruncatingIntoACachedBlockTakesItOutOfTheIndex()
    {
        var pool = CachingPool(blocks: 4, blockSize: 4);
        var a = Filled(pool, Seq(1, 8));
        a.Truncate(6); // block 1 is partial now and will be overwritten
        Assert.Equal(1, pool.IndexedBlocks);
        a.Release();
        Assert.Equal(4, pool.FindCachedPrefix(Seq(1, 8), 8).Tokens);
        var b = Filled(pool, Seq(1, 8)); // its second block is indexed again (its first is a duplicate, unindexed)
        var c = pool.CreateSequence();
        Assert.Equal(8, pool.AttachCachedPrefix(c, Seq(1, 8), 8).Tokens);
        Assert.Equal(b.Blocks[1], c.Blocks[1]);
        Assert.Throws<InvalidOperationException>(() => b.Truncate(6)); // shared with c: overwriting would corrupt c
    }

    /// <summary>
    /// Random create / attach / grow / release / truncate sequences: at every step free + cached + used is the pool,
    /// used is exactly the distinct blocks live sequences hold, and reference counts are exactly their sharers.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void AccountingStaysExactUnderRandomOperations(int seed)
    {
        const int blocks = 24, bs = 4;
        var pool = CachingPool(blocks, bs);
        var rng = new Random(seed);
        var live = new List<(KvSequence Seq, int[] Tokens)>();
        // Prompts drawn from a few shared prefixes so hits, sharing and eviction all happen.
        int[][] prefixes = [Seq(100, 12), Seq(200, 9), Seq(300, 16)];
        for (int step = 0; step < 2000; step++)
        {
            int op = rng.Next(10);
            if (op < 4 || live.Count == 0)
            {
                var prefix = prefixes[rng.Next(prefixes.Length)];
                int[] tokens = [.. prefix[..rng.Next(1, prefix.Length + 1)], .. Enumerable.Range(0, rng.Next(0, 10)).Select(_ => rng.Next(5))];
                var match = pool.FindCachedPrefix(tokens, tokens.Length - 1);
                int need = pool.BlocksFor(tokens.Length) - match.Blocks + match.UnreferencedBlocks;
                if (need > pool.FreeBlocks) continue;
                var s = pool.CreateSequence();
                Assert.Equal(match, pool.AttachCachedPrefix(s, tokens, tokens.Length - 1));
                Assert.True(s.TryReserve(tokens.Length - s.Length));
                s.Length = tokens.Length;
                pool.CacheFullBlocks(s, tokens);
                live.Add((s, tokens));
            }
            else if (op < 6)
            {
                int i = rng.Next(live.Count);
                var (s, tokens) = live[i];
                int more = rng.Next(1, 6);
                if (!s.TryReserve(more)) continue;
                tokens = [.. tokens, .. Enumerable.Range(0, more).Select(_ => rng.Next(5))];
                s.Length = tokens.Length;
                pool.CacheFullBlocks(s, tokens);
                live[i] = (s, tokens);
            }
            else if (op < 9)
            {
                int i = rng.Next(live.Count);
                live[i].Seq.Release(); // finish, cancel or preempt: all the same to the pool
                live.RemoveAt(i);
            }
            else
            {
                int i = rng.Next(live.Count);
                var (s, tokens) = live[i];
                int keep = rng.Next(0, s.Length + 1);
                bool shared = keep % bs != 0 && pool.RefCount(s.Blocks[keep / bs]) > 1;
                if (shared) continue;
                s.Truncate(keep);
                live[i] = (s, tokens[..keep]);
            }

            var held = live.SelectMany(l => l.Seq.Blocks.ToArray()).ToList();
            Assert.Equal(held.Distinct().Count(), pool.UsedBlocks);
            Assert.Equal(blocks, pool.FreeBlocks + pool.UsedBlocks);
            Assert.True(pool.CachedBlocks <= pool.FreeBlocks);
            Assert.True(pool.IndexedBlocks >= pool.CachedBlocks);
            foreach (var g in held.GroupBy(b => b)) Assert.Equal(g.Count(), pool.RefCount(g.Key));
        }
        foreach (var (s, _) in live) s.Release();
        Assert.Equal(0, pool.UsedBlocks);
        Assert.Equal(blocks, pool.FreeBlocks);
    }

    /// <summary>
    /// The point of it all: logits after reusing a cached prefix equal, bit for bit, those of computing the whole
    /// prompt, for several block sizes, KV types and prefix lengths that end inside a block.
    /// </summary>
    [Theory]
    [InlineData("stories260K.gguf", 4, KvElementType.F32)]
    [InlineData("stories260K.gguf", 16, KvElementType.F16)]
    [InlineData("tinyllama-v0-q4_0.gguf", 16, KvElementType.F32)]
    [InlineData("tinyllama-v0-q4_0.gguf", 32, KvElementType.F16)]
    public void LogitsAfterACachedPrefixAreBitIdentical(string file, int blockSize, KvElementType type)
    {
        using var model = LanguageModel.Load(TestPaths.Model(file));
        int vocab = model.Config.VocabSize;
        using var tr = new Transformer(model, threads: 2, maxBatch: 64, maxContext: 256);
        var pool = new KvBlockPool(model.Config, 64, blockSize, type);
        pool.EnablePrefixCaching(model.Fingerprint);
        var rng = new Random(blockSize);
        int[] shared = [1, .. Enumerable.Range(0, 2 * blockSize + blockSize / 2).Select(_ => rng.Next(3, vocab))]; // ends mid-block
        int[] first = [.. shared, .. Enumerable.Range(0, 7).Select(_ => rng.Next(3, vocab))];
        int[] second = [.. shared, .. Enumerable.Range(0, 90).Select(_ => rng.Next(3, vocab))]; // longer than maxBatch after the hit

        var expected = new float[vocab];
        using (var fresh = new KvBlockPool(model.Config, 64, blockSize, type).CreateSequence())
            tr.Forward(second, fresh, expected);

        var a = pool.CreateSequence();
        var scratch = new float[vocab];
        tr.Forward(first, a, scratch);
        pool.CacheFullBlocks(a, first);
        a.Release();

        var b = pool.CreateSequence();
        var match = pool.AttachCachedPrefix(b, second, second.Length - 1);
        Assert.Equal(shared.Length / blockSize * blockSize, match.Tokens); // the partial block is computed again
        var actual = new float[vocab];
        tr.Forward(second.AsSpan(match.Tokens), b, actual);
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), actual.Select(BitConverter.SingleToInt32Bits));
    }
}
