using Tandem.Engine.KvCache;
using Tandem.Engine.Model;

namespace Tandem.Engine.Tests.KvCache;

public class KvBlockPoolTests
{
    private static ModelConfig Config()
    {
        using var model = LanguageModel.Load(TestPaths.Model("stories260K.gguf"));
        return model.Config; // 5 layers, kvDim 32
    }

    [Theory]
    [InlineData(KvElementType.F32, 4)]
    [InlineData(KvElementType.F16, 2)]
    public void BudgetSizesThePool(KvElementType type, int elementBytes)
    {
        var c = Config();
        long perToken = 2L * c.BlockCount * c.KvDim * elementBytes;
        Assert.Equal(perToken, KvBlockPool.BytesPerToken(c, type));
        var pool = KvBlockPool.FromBudget(c, perToken * 16 * 10 + 5, blockSize: 16, type);
        Assert.Equal(10, pool.BlockCount);
        Assert.Equal(10, pool.FreeBlocks);
        Assert.Equal(0, pool.UsedBlocks);
        Assert.Equal(perToken * 16, pool.BytesPerBlock);
    }

    [Fact]
    public void BudgetBelowOneBlockIsAClearError()
    {
        var e = Assert.Throws<ArgumentException>(() => KvBlockPool.FromBudget(Config(), 1000, 16));
        Assert.Contains("below one block", e.Message);
    }

    [Fact]
    public void ReserveAllocatesWholeBlocksAndFailsWithoutSideEffects()
    {
        var pool = new KvBlockPool(Config(), blockCount: 4, blockSize: 16);
        var a = pool.CreateSequence();
        Assert.True(a.TryReserve(17)); // 2 blocks
        Assert.Equal(2, a.BlockCount);
        Assert.Equal(2, pool.UsedBlocks);
        var b = pool.CreateSequence();
        Assert.False(b.TryReserve(40)); // needs 3, 2 free
        Assert.Equal(0, b.BlockCount);
        Assert.Equal(2, pool.FreeBlocks);
        Assert.True(b.TryReserve(32));
        Assert.Equal(0, pool.FreeBlocks);
        Assert.Equal(4, pool.UsedBlocks);
        a.Dispose();
        Assert.Equal(2, pool.FreeBlocks);
        b.Release();
        Assert.Equal(4, pool.FreeBlocks);
        Assert.Equal(0, b.BlockCount);
    }

    [Fact]
    public void ReferenceCountsKeepSharedBlocksAlive()
    {
        var pool = new KvBlockPool(Config(), blockCount: 2, blockSize: 8);
        int blk = pool.TryAllocate();
        pool.AddRef(blk);
        Assert.Equal(2, pool.RefCount(blk));
        pool.Release(blk);
        Assert.Equal(1, pool.FreeBlocks);
        pool.Release(blk);
        Assert.Equal(2, pool.FreeBlocks);
        Assert.Throws<InvalidOperationException>(() => pool.Release(blk));
    }

    [Fact]
    public void TruncateReleasesBlocksNoLongerNeeded()
    {
        var pool = new KvBlockPool(Config(), blockCount: 8, blockSize: 4);
        var s = pool.CreateSequence();
        Assert.True(s.TryReserve(13));
        Assert.Equal(4, s.BlockCount);
        s.Length = 13;
        s.Truncate(5);
        Assert.Equal(2, s.BlockCount);
        Assert.Equal(6, pool.FreeBlocks);
        s.Truncate(0);
        Assert.Equal(8, pool.FreeBlocks);
    }
}
