using System.Numerics.Tensors;
using Tandem.Engine.Kernels;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;

namespace Tandem.Engine.Tests.Model;

/// <summary>
/// Attention over an F16 KV cache runs in tiles (several tokens × the heads of one KV head, each key and value row
/// widened once per tile); it must give bit for bit what the per-(token, head) computation gave before it
/// (<see cref="F16AttentionTiles.PerQueryReference"/>, one <c>TensorPrimitives</c> call per cell: the query rounded
/// through F16, <c>Dot</c> per key, softmax, the probabilities rounded through F16, <c>MultiplyAdd</c> per value). Checked on a batch holding a prefill chunk, a
/// decode token and a short prompt whose cache holds F16 inf/NaN, over blocks scattered through the pool, for the
/// head shapes of the shared and synthesized models. Each vector width has its own order:
/// <see cref="Kernels.InstructionSetRunsTests"/> runs this class again with <c>DOTNET_EnableAVX512=0</c> and
/// <c>DOTNET_EnableAVX2=0</c>.
/// </summary>
public class F16AttentionTests
{
    [Theory]
    [InlineData(9, 3, 64, 16)]   // SmolLM-135M
    [InlineData(32, 4, 64, 16)]  // TinyLlama-1.1B: eight query heads per KV head
    [InlineData(8, 4, 8, 16)]    // stories260K: a head is one 8-float vector
    [InlineData(4, 4, 128, 7)]   // no GQA; 128 floats take Dot's unrolled order on 256- and 128-bit vectors
    [InlineData(2, 1, 40, 16)]   // a head that is no whole number of vectors: Dot is called per cell
    public void Tiles_give_the_per_query_results_bit_for_bit(int heads, int kvHeads, int hd, int blockSize)
    {
        var config = new ModelConfig
        {
            Architecture = ModelArchitecture.Llama, ArchitectureName = "llama", EmbeddingLength = heads * hd, BlockCount = 1,
            FeedForwardLength = 4 * heads * hd, HeadCount = heads, HeadCountKv = kvHeads, HeadDim = hd, RopeDimensions = hd,
            RopeFreqBase = 10000, RopeFreqScale = 1, RmsNormEpsilon = 1e-5f, ContextLength = 512, VocabSize = 32,
        };
        var rng = new Random(heads * 1000 + hd);
        var pool = new KvBlockPool(config, blockCount: 2 * 512 / blockSize, blockSize, KvElementType.F16);
        Half[] keys = pool.KeysF16![0], values = pool.ValuesF16![0];
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i] = (Half)(rng.NextDouble() * 4 - 2);
            values[i] = (Half)(rng.NextDouble() * 2 - 1);
        }

        // Three sequences whose blocks interleave: a 37-token prefill chunk after 150 cached tokens, one decode token
        // after 299, and a 3-token prompt after 5 whose cache holds an inf key and a NaN value.
        var prefill = pool.CreateSequence();
        var decode = pool.CreateSequence();
        var special = pool.CreateSequence();
        (KvSequence seq, int cached, int added)[] entries = [(prefill, 150, 37), (decode, 299, 1), (special, 5, 3)];
        for (int step = 1; entries.Any(e => e.seq.Capacity < e.cached + e.added); step++)
            foreach (var (seq, cached, added) in entries)
                Assert.True(seq.TryReserve(Math.Min(cached + added, step * blockSize) - seq.Length));
        int kvDim = config.KvDim;
        int Cell(KvSequence s, int pos) => (s.Blocks[pos / blockSize] * blockSize + pos % blockSize) * kvDim;
        keys[Cell(special, 2) + 1] = Half.PositiveInfinity;
        values[Cell(special, 6) + kvDim - 1] = Half.NaN;

        var batch = new ForwardBatch();
        foreach (var (seq, cached, added) in entries)
        {
            seq.Length = cached;
            batch.Add(seq, new int[added], wantLogits: true);
        }
        int n = batch.TokenCount, qDim = config.QDim;
        var q = new float[n * qDim];
        for (int i = 0; i < q.Length; i++) q[i] = (float)(rng.NextDouble() * 6 - 3);

        var job = new AttentionJob(config, workers: 2, maxContext: 512);
        var got = new float[n * qDim];
        job.Set(q, got, batch, pool, 0);
        // Items in reverse order and on alternating workers: a tile's results must not depend on what ran before it.
        for (int item = job.ItemCount - 1; item >= 0; item--)
            job.Execute(item, item + 1, item % 2);

        var want = new float[hd];
        float[] scores = new float[512], qh = new float[hd], row = new float[hd];
        for (int t = 0; t < n; t++)
        {
            var seq = batch.Sequence(batch.TokenEntries[t]);
            for (int h = 0; h < heads; h++)
            {
                F16AttentionTiles.PerQueryReference(q.AsSpan(t * qDim + h * hd, hd), keys, values, seq.Blocks.ToArray(), blockSize, kvDim,
                    h / (heads / kvHeads) * hd, batch.Positions[t] + 1, want, scores, qh, row);
                for (int d = 0; d < hd; d++)
                {
                    float g = got[t * qDim + h * hd + d];
                    Assert.True(BitConverter.SingleToInt32Bits(g) == BitConverter.SingleToInt32Bits(want[d]) || float.IsNaN(g) && float.IsNaN(want[d]),
                        $"token {t} (position {batch.Positions[t]}), head {h}, element {d}: {g:R}, per query {want[d]:R}");
                }
            }
        }
    }

    /// <summary>Every row length whose order <see cref="TensorPrimitivesOrder.ScaledDots"/> reproduces gives Dot's bits.</summary>
    [Fact]
    public unsafe void Scaled_dots_equal_TensorPrimitives_Dot()
    {
        var rng = new Random(3);
        int covered = 0;
        for (int n = 1; n <= 300; n++)
        {
            var order = TensorPrimitivesOrder.BlockOrder(n, out int width);
            if (order == null) continue;
            covered++;
            const int rowsCount = 37; // whole groups of 16, 8 and 4 cells summed together, then single cells
            int stride = n + 3; // rows that are not vector-aligned
            var rows = new float[rowsCount * stride];
            var y = new float[n];
            // F16 values, as in attention: every product is exact.
            for (int i = 0; i < rows.Length; i++) rows[i] = (float)(Half)(rng.NextDouble() * 8 - 4);
            for (int i = 0; i < n; i++) y[i] = (float)(Half)(rng.NextDouble() * 8 - 4);
            var got = new float[rowsCount];
            fixed (float* r = rows, yp = y, g = got)
                TensorPrimitivesOrder.ScaledDots(r, rowsCount, stride, yp, order, width, 0.125f, g);
            for (int j = 0; j < rowsCount; j++)
            {
                float want = TensorPrimitives.Dot(rows.AsSpan(j * stride, n), y) * 0.125f;
                Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(got[j]), $"n = {n}, row {j}: {got[j]:R}, Dot {want:R}");
            }
        }
        if (TensorPrimitivesOrder.Width > 0)
        {
            Assert.NotNull(TensorPrimitivesOrder.BlockOrder(64, out _)); // the head size of every model the bench runs
            Assert.NotNull(TensorPrimitivesOrder.BlockOrder(128, out _));
            Assert.True(covered >= 300 / TensorPrimitivesOrder.Width);
        }
    }

    /// <summary>
    /// The probabilities go through F16 with <c>TensorPrimitives</c>' vector conversions, where the per-query code
    /// cast each one; both must round the same way: a sweep over float bit patterns (normal, subnormal and
    /// overflowing F16 results, and values halfway between two F16 values).
    /// </summary>
    [Fact]
    public void Vector_conversion_through_F16_rounds_as_the_cast()
    {
        var x = new List<float>();
        for (long bits = 0; bits <= uint.MaxValue; bits += 4093) x.Add(BitConverter.UInt32BitsToSingle((uint)bits));
        for (int h = 0; h < 0x7C00; h += 7) // exact halfway points between neighbouring F16 values, and their neighbours
        {
            float a = (float)BitConverter.UInt16BitsToHalf((ushort)h), b = (float)BitConverter.UInt16BitsToHalf((ushort)(h + 1));
            float mid = (a + b) / 2;
            x.AddRange([mid, -mid, MathF.BitIncrement(mid), MathF.BitDecrement(mid)]);
        }
        var values = x.ToArray();
        var halves = new Half[values.Length];
        var back = new float[values.Length];
        TensorPrimitives.ConvertToHalf(values, halves);
        TensorPrimitives.ConvertToSingle(halves, back);
        for (int i = 0; i < values.Length; i++)
        {
            float want = (float)(Half)values[i];
            Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(back[i]) || float.IsNaN(want) && float.IsNaN(back[i]),
                $"{values[i]:R}: {back[i]:R}, cast {want:R}");
        }
    }
}
