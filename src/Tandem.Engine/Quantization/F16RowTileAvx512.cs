using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The micro-kernel of the tiled F16 matmul for batches where ggml's SIMD width is 16 (AVX-512): 4 weight rows,
/// widened in advance (<see cref="F16WidenedRows"/>), × <typeparamref name="TTokens"/> tokens of an
/// <see cref="F16ActivationPanel"/> (up to 6: 24 accumulators, 4 weight vectors and an activation in registers).
/// Each (row, token) gets exactly <see cref="GgmlFloatDot.VecDotF16"/>'s arithmetic: its four 16-lane accumulators
/// (accumulator j sums elements 64s + 16j .. 64s + 16j + 15 over the steps s, one FMA per step, in step order) and
/// <c>ReduceAdd((a0 + a2) + (a1 + a3))</c>. The four accumulators are independent chains, so the kernel runs them one
/// after the other (one pass per j) and needs one register per (row, token) instead of four: that is what lets
/// one widened weight vector feed several tokens and one loaded activation several rows. Each pass folds its chain
/// into the sums as it ends (<see cref="IF16AccumulatorSink"/>), and the 24 sums are reduced together
/// (<see cref="TransposedReduce"/>) instead of one horizontal sum each.
/// </summary>
internal static unsafe class F16RowTileAvx512
{
    public const int Rows = 4;
    public const int MaxTokens = 6;

    /// <summary>Most tiles of one <see cref="Block{TTokens}"/> call: a block of <see cref="F16WidenedRows.MaxRows"/> rows.</summary>
    public const int MaxTiles = F16WidenedRows.MaxRows / Rows;

    /// <summary>Elements of a 4-accumulator step of ggml's dot.</summary>
    private const int Step = 64;

    /// <summary>
    /// Columns per chunk: each chain runs over every tile of the block one chunk of columns at a time, so the part of
    /// six tokens' activations that a pass reads stays in L1 (about 12 KB) while the block's tiles run over it.
    /// </summary>
    public const int ChunkCols = 2048;

    /// <summary>Slots of one accumulator's chains in a tile (one per (row, token)).</summary>
    private const int ChainSlots = Rows * MaxTokens;

    /// <summary>Floats of <paramref name="results"/> from one tile's sums to the next.</summary>
    public const int ResultStride = 32;

    /// <summary>
    /// The reduced vector sums of <paramref name="tiles"/> tiles of <see cref="Rows"/> rows each, from <paramref name="w"/>
    /// (widened, <paramref name="stride"/> floats apart, tile i from row i × Rows) with tokens <paramref name="t0"/>.. of
    /// the panel: tile i's row r, token k into <c>results[i * ResultStride + k * Rows + r]</c>, to be finished by
    /// <see cref="GgmlFloatDot.FinishWidened"/> from <paramref name="vectorEnd"/>. <paramref name="prefetch"/> steps once
    /// per tile and accumulator (4 × <paramref name="tiles"/> times per chunk of columns). <typeparamref name="TFold"/> folds
    /// the last pass into the sums: <see cref="F16Accumulator3"/> for rows widened in element order
    /// (<see cref="F16WidenedRows.Widen"/>), <see cref="F16UnpackedAccumulator3"/> for rows widened the unpacking way
    /// against an <see cref="F16UnpackedPanel"/>'s activations (<see cref="F16WidenedRows.WidenUnpacked"/>).
    /// </summary>
    // Pass-major: each accumulator chain runs over every tile of the block before the next chain starts, so the part of
    // the tokens' activations one chain reads (a quarter of their lines) is loaded from L2 once per block and served
    // from L1 to the other tiles. Tile-major, a tile's four passes read all of six tokens' rows (48 KB at 2048 columns,
    // as large as L1) and every tile fetched them again.
    // SkipLocalsInit: the partial sums are written before they are read (slots of missing tokens are reduced into
    // result lanes nobody reads); zeroing them cost a memset per call.
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    public static void Block<TTokens, TFold>(float* w, int stride, int tiles, in F16ActivationPanel panel, int t0, int vectorEnd, float* results,
        ref SpreadPrefetch prefetch)
        where TTokens : ITileCount where TFold : IF16AccumulatorSink
    {
        // Per tile, slot k * Rows + r: the token-major order the reduction leaves its lanes in.
        const int slots = Rows * 8;
        Vector512<float>* sums = stackalloc Vector512<float>[MaxTiles * slots];
        Vector512<float>* odd = stackalloc Vector512<float>[MaxTiles * slots];
        long tileFloats = (long)Rows * stride;
        // Chains that continue into the next chunk of columns wait here: tile i, accumulator j at (4i + j) × ChainSlots.
        Vector512<float>* chains = stackalloc Vector512<float>[MaxTiles * 4 * ChainSlots];
        int chunks = (vectorEnd + ChunkCols - 1) / ChunkCols;
        int chunkLength = chunks <= 1 ? vectorEnd : ((vectorEnd + chunks - 1) / chunks + Step - 1) & -Step;
        // At least one chunk, even an empty one: rows shorter than a step have no vector part, and their sums must still
        // be zeros for FinishWidened to add the tail to.
        int begin = 0;
        do
        {
            int chunkEnd = Math.Min(vectorEnd, begin + chunkLength);
            bool first = begin == 0, last = chunkEnd == vectorEnd;
            for (int i = 0; i < tiles; i++)
            {
                Pass<TTokens, F16Accumulator0>(w + i * tileFloats, stride, panel, t0, 0, begin, chunkEnd, sums + i * slots, odd + i * slots,
                    chains + (4 * i + 0) * ChainSlots, first, last);
                prefetch.Step();
            }
            for (int i = 0; i < tiles; i++)
            {
                Pass<TTokens, F16Accumulator2>(w + i * tileFloats, stride, panel, t0, 32, begin, chunkEnd, sums + i * slots, odd + i * slots,
                    chains + (4 * i + 2) * ChainSlots, first, last);
                prefetch.Step();
            }
            for (int i = 0; i < tiles; i++)
            {
                Pass<TTokens, F16Accumulator1>(w + i * tileFloats, stride, panel, t0, 16, begin, chunkEnd, sums + i * slots, odd + i * slots,
                    chains + (4 * i + 1) * ChainSlots, first, last);
                prefetch.Step();
            }
            for (int i = 0; i < tiles; i++)
            {
                Pass<TTokens, TFold>(w + i * tileFloats, stride, panel, t0, 48, begin, chunkEnd, sums + i * slots, odd + i * slots,
                    chains + (4 * i + 3) * ChainSlots, first, last);
                prefetch.Step();
            }
            begin = chunkEnd;
        } while (begin < vectorEnd);
        for (int i = 0; i < tiles; i++)
        {
            Vector512<float>* s = sums + i * slots;
            float* dst = results + i * ResultStride;
            Vector512.Store(TransposedReduce.ReduceAdd16(s), dst);
            if (TTokens.Count > 4)
                Vector512.Store(TransposedReduce.ReduceAdd8(s + 16), dst + 16);
        }
    }

    /// <summary>
    /// One accumulator chain for every (row, token): elements <paramref name="offset"/> .. +15 of each 64-element step
    /// from <paramref name="begin"/> up to <paramref name="chunkEnd"/>. A chain starts at zero in the <paramref name="first"/>
    /// chunk, else where <paramref name="chains"/> (slot <c>k * Rows + r</c>) left it; after the <paramref name="last"/>
    /// chunk it goes to slot <c>k * Rows + r</c> through <typeparamref name="TSink"/>, else back to <paramref name="chains"/>.
    /// Stored and reloaded unchanged, a chain sums its steps in the same order as one unbroken loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pass<TTokens, TSink>(float* w, int stride, in F16ActivationPanel panel, int t0, int offset, int begin, int chunkEnd,
        Vector512<float>* sums, Vector512<float>* odd, Vector512<float>* chains, bool first, bool last)
        where TTokens : ITileCount where TSink : IF16AccumulatorSink
    {
        float* w0 = w + offset + begin;
        float* w1 = w + 1 * stride + offset + begin;
        float* w2 = w + 2 * stride + offset + begin;
        float* w3 = w + 3 * stride + offset + begin;
        float* y0 = panel.Row(t0) + offset + begin;
        float* y1 = TTokens.Count > 1 ? panel.Row(t0 + 1) + offset + begin : y0;
        float* y2 = TTokens.Count > 2 ? panel.Row(t0 + 2) + offset + begin : y0;
        float* y3 = TTokens.Count > 3 ? panel.Row(t0 + 3) + offset + begin : y0;
        float* y4 = TTokens.Count > 4 ? panel.Row(t0 + 4) + offset + begin : y0;
        float* y5 = TTokens.Count > 5 ? panel.Row(t0 + 5) + offset + begin : y0;
        // c<row><token>
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default, c04 = default, c05 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default, c14 = default, c15 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default, c24 = default, c25 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default, c34 = default, c35 = default;
        if (!first)
        {
            c00 = chains[0];
            if (TTokens.Count > 1) c01 = chains[4];
            if (TTokens.Count > 2) c02 = chains[8];
            if (TTokens.Count > 3) c03 = chains[12];
            if (TTokens.Count > 4) c04 = chains[16];
            if (TTokens.Count > 5) c05 = chains[20];
            c10 = chains[1];
            if (TTokens.Count > 1) c11 = chains[5];
            if (TTokens.Count > 2) c12 = chains[9];
            if (TTokens.Count > 3) c13 = chains[13];
            if (TTokens.Count > 4) c14 = chains[17];
            if (TTokens.Count > 5) c15 = chains[21];
            c20 = chains[2];
            if (TTokens.Count > 1) c21 = chains[6];
            if (TTokens.Count > 2) c22 = chains[10];
            if (TTokens.Count > 3) c23 = chains[14];
            if (TTokens.Count > 4) c24 = chains[18];
            if (TTokens.Count > 5) c25 = chains[22];
            c30 = chains[3];
            if (TTokens.Count > 1) c31 = chains[7];
            if (TTokens.Count > 2) c32 = chains[11];
            if (TTokens.Count > 3) c33 = chains[15];
            if (TTokens.Count > 4) c34 = chains[19];
            if (TTokens.Count > 5) c35 = chains[23];
        }
        // The bound in a local: computed in the condition it cost three instructions per step and a spilled row pointer.
        nint end = chunkEnd - begin - offset;
        for (nint i = 0; i < end; i += 64)
        {
            Vector512<float> x0 = Vector512.Load(w0 + i), x1 = Vector512.Load(w1 + i), x2 = Vector512.Load(w2 + i), x3 = Vector512.Load(w3 + i);
            {
                Vector512<float> y = Vector512.Load(y0 + i);
                c00 = Vector512.FusedMultiplyAdd(x0, y, c00);
                c10 = Vector512.FusedMultiplyAdd(x1, y, c10);
                c20 = Vector512.FusedMultiplyAdd(x2, y, c20);
                c30 = Vector512.FusedMultiplyAdd(x3, y, c30);
            }
            if (TTokens.Count > 1) {
                Vector512<float> y = Vector512.Load(y1 + i);
                c01 = Vector512.FusedMultiplyAdd(x0, y, c01);
                c11 = Vector512.FusedMultiplyAdd(x1, y, c11);
                c21 = Vector512.FusedMultiplyAdd(x2, y, c21);
                c31 = Vector512.FusedMultiplyAdd(x3, y, c31);
            }
            if (TTokens.Count > 2) {
                Vector512<float> y = Vector512.Load(y2 + i);
                c02 = Vector512.FusedMultiplyAdd(x0, y, c02);
                c12 = Vector512.FusedMultiplyAdd(x1, y, c12);
                c22 = Vector512.FusedMultiplyAdd(x2, y, c22);
                c32 = Vector512.FusedMultiplyAdd(x3, y, c32);
            }
            if (TTokens.Count > 3) {
                Vector512<float> y = Vector512.Load(y3 + i);
                c03 = Vector512.FusedMultiplyAdd(x0, y, c03);
                c13 = Vector512.FusedMultiplyAdd(x1, y, c13);
                c23 = Vector512.FusedMultiplyAdd(x2, y, c23);
                c33 = Vector512.FusedMultiplyAdd(x3, y, c33);
            }
            if (TTokens.Count > 4) {
                Vector512<float> y = Vector512.Load(y4 + i);
                c04 = Vector512.FusedMultiplyAdd(x0, y, c04);
                c14 = Vector512.FusedMultiplyAdd(x1, y, c14);
                c24 = Vector512.FusedMultiplyAdd(x2, y, c24);
                c34 = Vector512.FusedMultiplyAdd(x3, y, c34);
            }
            if (TTokens.Count > 5) {
                Vector512<float> y = Vector512.Load(y5 + i);
                c05 = Vector512.FusedMultiplyAdd(x0, y, c05);
                c15 = Vector512.FusedMultiplyAdd(x1, y, c15);
                c25 = Vector512.FusedMultiplyAdd(x2, y, c25);
                c35 = Vector512.FusedMultiplyAdd(x3, y, c35);
            }
        }
        if (last)
        {
            TSink.Put(sums, odd, 0, c00);
            if (TTokens.Count > 1) TSink.Put(sums, odd, 4, c01);
            if (TTokens.Count > 2) TSink.Put(sums, odd, 8, c02);
            if (TTokens.Count > 3) TSink.Put(sums, odd, 12, c03);
            if (TTokens.Count > 4) TSink.Put(sums, odd, 16, c04);
            if (TTokens.Count > 5) TSink.Put(sums, odd, 20, c05);
            TSink.Put(sums, odd, 1, c10);
            if (TTokens.Count > 1) TSink.Put(sums, odd, 5, c11);
            if (TTokens.Count > 2) TSink.Put(sums, odd, 9, c12);
            if (TTokens.Count > 3) TSink.Put(sums, odd, 13, c13);
            if (TTokens.Count > 4) TSink.Put(sums, odd, 17, c14);
            if (TTokens.Count > 5) TSink.Put(sums, odd, 21, c15);
            TSink.Put(sums, odd, 2, c20);
            if (TTokens.Count > 1) TSink.Put(sums, odd, 6, c21);
            if (TTokens.Count > 2) TSink.Put(sums, odd, 10, c22);
            if (TTokens.Count > 3) TSink.Put(sums, odd, 14, c23);
            if (TTokens.Count > 4) TSink.Put(sums, odd, 18, c24);
            if (TTokens.Count > 5) TSink.Put(sums, odd, 22, c25);
            TSink.Put(sums, odd, 3, c30);
            if (TTokens.Count > 1) TSink.Put(sums, odd, 7, c31);
            if (TTokens.Count > 2) TSink.Put(sums, odd, 11, c32);
            if (TTokens.Count > 3) TSink.Put(sums, odd, 15, c33);
            if (TTokens.Count > 4) TSink.Put(sums, odd, 19, c34);
            if (TTokens.Count > 5) TSink.Put(sums, odd, 23, c35);
        }
        else
        {
            chains[0] = c00;
            if (TTokens.Count > 1) chains[4] = c01;
            if (TTokens.Count > 2) chains[8] = c02;
            if (TTokens.Count > 3) chains[12] = c03;
            if (TTokens.Count > 4) chains[16] = c04;
            if (TTokens.Count > 5) chains[20] = c05;
            chains[1] = c10;
            if (TTokens.Count > 1) chains[5] = c11;
            if (TTokens.Count > 2) chains[9] = c12;
            if (TTokens.Count > 3) chains[13] = c13;
            if (TTokens.Count > 4) chains[17] = c14;
            if (TTokens.Count > 5) chains[21] = c15;
            chains[2] = c20;
            if (TTokens.Count > 1) chains[6] = c21;
            if (TTokens.Count > 2) chains[10] = c22;
            if (TTokens.Count > 3) chains[14] = c23;
            if (TTokens.Count > 4) chains[18] = c24;
            if (TTokens.Count > 5) chains[22] = c25;
            chains[3] = c30;
            if (TTokens.Count > 1) chains[7] = c31;
            if (TTokens.Count > 2) chains[11] = c32;
            if (TTokens.Count > 3) chains[15] = c33;
            if (TTokens.Count > 4) chains[19] = c34;
            if (TTokens.Count > 5) chains[23] = c35;
        }
    }
}
