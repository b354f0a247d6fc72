using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The micro-kernel of the tiled F16 matmul for batches where ggml's SIMD width is 8 (AVX2): 2 weight rows,
/// widened in advance (<see cref="F16WidenedRows"/>), × <typeparamref name="TTokens"/> tokens of an
/// <see cref="F16ActivationPanel"/> (up to 6: 12 accumulators, 2 weight vectors and an activation in registers).
/// Each (row, token) gets exactly <see cref="GgmlFloatDot.VecDotF16"/>'s arithmetic: its four 8-lane accumulators
/// (accumulator j sums elements 32s + 8j .. 32s + 8j + 7 over the steps s, one FMA per step, in step order) and
/// <c>ReduceAddHadd((a0 + a2) + (a1 + a3))</c>. The four accumulators are independent chains, so the kernel runs them one
/// after the other (one pass per j) and needs one register per (row, token) instead of four: that is what lets
/// one widened weight vector feed several tokens and one loaded activation several rows. Each pass folds its chain
/// into the sums as it ends (<see cref="IF16AccumulatorSink"/>), and the 12 sums are reduced eight at a time
/// (<see cref="TransposedReduce"/>).
/// </summary>
internal static unsafe class F16RowTileAvx2
{
    public const int Rows = 2;
    public const int MaxTokens = 6;

    /// <summary>Most tiles of one <see cref="Block{TTokens}"/> call: a block of <see cref="F16WidenedRows.MaxRows"/> rows.</summary>
    public const int MaxTiles = F16WidenedRows.MaxRows / Rows;

    /// <summary>Elements of a 4-accumulator step of ggml's dot.</summary>
    private const int Step = 32;

    /// <summary>
    /// Columns per chunk: each chain runs over every tile of the block one chunk of columns at a time, so the part of
    /// six tokens' activations that a pass reads stays in L1 (about 12 KB) while the block's tiles run over it.
    /// </summary>
    public const int ChunkCols = 1024;

    /// <summary>A tile's slots of sums, slot k * Rows + r: the token-major order the reduction leaves its lanes in.</summary>
    private const int SumSlots = Rows * 8;

    /// <summary>Slots of one accumulator's chains in a tile (one per (row, token)).</summary>
    private const int ChainSlots = Rows * MaxTokens;

    /// <summary>Floats of <paramref name="results"/> from one tile's sums to the next.</summary>
    public const int ResultStride = 16;

    /// <summary>
    /// The reduced vector sums of <paramref name="tiles"/> tiles of <see cref="Rows"/> rows each, from <paramref name="w"/>
    /// (widened, <paramref name="stride"/> floats apart, tile i from row i × Rows) with tokens <paramref name="t0"/>.. of
    /// the panel: tile i's row r, token k into <c>results[i * ResultStride + k * Rows + r]</c>, to be finished by
    /// <see cref="GgmlFloatDot.FinishWidened"/> from <paramref name="vectorEnd"/>. <paramref name="prefetch"/> steps once
    /// per tile and accumulator (4 × <paramref name="tiles"/> times per chunk of columns).
    /// </summary>
    // Pass-major: each accumulator chain runs over every tile of the block before the next chain starts, so the part of
    // the tokens' activations one chain reads (a quarter of their lines) is loaded from L2 once per block and served
    // from L1 to the other tiles. Tile-major, a tile's four passes read all of six tokens' rows (48 KB at 2048 columns,
    // as large as L1) and every tile fetched them again.
    // SkipLocalsInit: the partial sums are written before they are read (slots of missing tokens are reduced into
    // result lanes nobody reads); zeroing them cost a memset per call.
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    public static void Block<TTokens>(float* w, int stride, int tiles, in F16ActivationPanel panel, int t0, int vectorEnd, float* results,
        ref SpreadPrefetch prefetch)
        where TTokens : ITileCount
    {
        Vector256<float>* sums = stackalloc Vector256<float>[MaxTiles * SumSlots];
        Vector256<float>* odd = stackalloc Vector256<float>[MaxTiles * SumSlots];
        long tileFloats = (long)Rows * stride;
        // Chains that continue into the next chunk of columns wait here: tile i, accumulator j at (4i + j) × ChainSlots.
        Vector256<float>* chains = stackalloc Vector256<float>[MaxTiles * 4 * ChainSlots];
        int chunks = (vectorEnd + ChunkCols - 1) / ChunkCols;
        int chunkLength = chunks <= 1 ? vectorEnd : ((vectorEnd + chunks - 1) / chunks + Step - 1) & -Step;
        // At least one chunk, even an empty one: rows shorter than a step have no vector part, and their sums must still
        // be zeros for FinishWidened to add the tail to.
        // The token group after this one (the next block's first group after the last): the last pass fetches its first lines.
        int nextT0 = t0 + TTokens.Count < panel.Tokens ? t0 + TTokens.Count : 0;
        int nextCount = Math.Min(MaxTokens, panel.Tokens - nextT0);
        int begin = 0;
        do
        {
            int chunkEnd = Math.Min(vectorEnd, begin + chunkLength);
            bool first = begin == 0, last = chunkEnd == vectorEnd;
            Pass<TTokens, F16Accumulator0>(w + F16WidenedRows.ChainStart(vectorEnd, 0) + begin / 4, tileFloats, stride, tiles, panel, t0, 0, begin, chunkEnd,
                sums, odd, chains + 0 * ChainSlots, first, last, ref prefetch, t0, 0, -1);
            Pass<TTokens, F16Accumulator1>(w + F16WidenedRows.ChainStart(vectorEnd, 1) + begin / 4, tileFloats, stride, tiles, panel, t0, 8, begin, chunkEnd,
                sums, odd, chains + 1 * ChainSlots, first, last, ref prefetch, t0, TTokens.Count, begin + 16);
            Pass<TTokens, F16Accumulator2>(w + F16WidenedRows.ChainStart(vectorEnd, 2) + begin / 4, tileFloats, stride, tiles, panel, t0, 16, begin, chunkEnd,
                sums, odd, chains + 2 * ChainSlots, first, last, ref prefetch, t0, 0, -1);
            Pass<TTokens, F16Accumulator3>(w + F16WidenedRows.ChainStart(vectorEnd, 3) + begin / 4, tileFloats, stride, tiles, panel, t0, 24, begin, chunkEnd,
                sums, odd, chains + 3 * ChainSlots, first, last, ref prefetch,
                last ? nextT0 : t0, last ? nextCount : TTokens.Count, last ? 0 : chunkEnd);
            begin = chunkEnd;
        } while (begin < vectorEnd);
        for (int i = 0; i < tiles; i++)
        {
            Vector256<float>* s = sums + i * SumSlots;
            float* dst = results + i * ResultStride;
            Vector256.Store(TransposedReduce.ReduceAddHadd8(s), dst);
            if (TTokens.Count > 4)
                Vector256.Store(TransposedReduce.ReduceAddHadd8(s + 8), dst + 8);
        }
    }

    /// <summary>
    /// One accumulator chain for every (row, token) of <paramref name="tiles"/> tiles: elements <paramref name="offset"/> .. +7
    /// of each 32-element step from <paramref name="begin"/> up to <paramref name="chunkEnd"/>, the weights read from the
    /// chain's contiguous part of the widened rows (<paramref name="w"/>: tile 0's first row at this chain and chunk; tile i
    /// <paramref name="tileFloats"/> × i further on). A chain starts at zero in the <paramref name="first"/> chunk, else where
    /// <paramref name="chains"/> (tile i at <c>4 × ChainSlots × i</c>, slot <c>k * Rows + r</c>) left it; after the
    /// <paramref name="last"/> chunk it goes to tile i's slot <c>k * Rows + r</c> of the sums through <typeparamref name="TSink"/>,
    /// else back to <paramref name="chains"/>. <paramref name="prefetch"/> steps once per tile. Where <paramref name="aheadBegin"/>
    /// is not negative, tile k (k below <paramref name="aheadCount"/>) fetches token <paramref name="aheadT0"/> + k's activation
    /// lines from that element on, one per step, for the next pass (the a2 pass, the next chunk's a0, or after the last chunk
    /// the next token group's first a0), whose first tile otherwise waited on them.
    /// Stored and reloaded unchanged, a chain sums its steps in the same order as one unbroken loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pass<TTokens, TSink>(float* w, long tileFloats, int stride, int tiles, in F16ActivationPanel panel, int t0, int offset,
        int begin, int chunkEnd, Vector256<float>* sums, Vector256<float>* odd, Vector256<float>* chains, bool first, bool last,
        ref SpreadPrefetch prefetch, int aheadT0, int aheadCount, int aheadBegin)
        where TTokens : ITileCount where TSink : IF16AccumulatorSink
    {
        float* y0 = panel.Row(t0) + offset + begin;
        float* y1 = TTokens.Count > 1 ? panel.Row(t0 + 1) + offset + begin : y0;
        float* y2 = TTokens.Count > 2 ? panel.Row(t0 + 2) + offset + begin : y0;
        float* y3 = TTokens.Count > 3 ? panel.Row(t0 + 3) + offset + begin : y0;
        float* y4 = TTokens.Count > 4 ? panel.Row(t0 + 4) + offset + begin : y0;
        float* y5 = TTokens.Count > 5 ? panel.Row(t0 + 5) + offset + begin : y0;
        // The tiles of the block one after the other in one call: the activation pointers and the call itself are set up
        // once per chain and chunk instead of once per tile (at 576 columns a tile's pass is 9 or 18 steps).
        for (int tile = 0; tile < tiles; tile++, w += tileFloats, sums += SumSlots, odd += SumSlots, chains += 4 * ChainSlots)
        {
            float* w0 = w;
            float* w1 = w + stride;
            // Tile k of the pass fetches token k's lines for the next pass, one per step; other tiles re-touch y0's line.
            float* ahead = aheadBegin >= 0 && tile < aheadCount ? panel.Row(aheadT0 + tile) + aheadBegin : y0;
            // c<row><token>
            Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default, c04 = default, c05 = default;
            Vector256<float> c10 = default, c11 = default, c12 = default, c13 = default, c14 = default, c15 = default;
            if (!first)
            {
                c00 = chains[0];
                if (TTokens.Count > 1) c01 = chains[2];
                if (TTokens.Count > 2) c02 = chains[4];
                if (TTokens.Count > 3) c03 = chains[6];
                if (TTokens.Count > 4) c04 = chains[8];
                if (TTokens.Count > 5) c05 = chains[10];
                c10 = chains[1];
                if (TTokens.Count > 1) c11 = chains[3];
                if (TTokens.Count > 2) c12 = chains[5];
                if (TTokens.Count > 3) c13 = chains[7];
                if (TTokens.Count > 4) c14 = chains[9];
                if (TTokens.Count > 5) c15 = chains[11];
            }
            // The bound in a local: computed in the condition it cost three instructions per step and a spilled row pointer.
            nint end = chunkEnd - begin - offset;
            for (nint i = 0, k = 0; i < end; i += 32, k += 8)
            {
                Vector256<float> x0 = Vector256.Load(w0 + k), x1 = Vector256.Load(w1 + k);
                if (Sse.IsSupported) Sse.Prefetch0(ahead + i);
                {
                    Vector256<float> y = Vector256.Load(y0 + i);
                    c00 = Vector256.FusedMultiplyAdd(x0, y, c00);
                    c10 = Vector256.FusedMultiplyAdd(x1, y, c10);
                }
                if (TTokens.Count > 1) {
                    Vector256<float> y = Vector256.Load(y1 + i);
                    c01 = Vector256.FusedMultiplyAdd(x0, y, c01);
                    c11 = Vector256.FusedMultiplyAdd(x1, y, c11);
                }
                if (TTokens.Count > 2) {
                    Vector256<float> y = Vector256.Load(y2 + i);
                    c02 = Vector256.FusedMultiplyAdd(x0, y, c02);
                    c12 = Vector256.FusedMultiplyAdd(x1, y, c12);
                }
                if (TTokens.Count > 3) {
                    Vector256<float> y = Vector256.Load(y3 + i);
                    c03 = Vector256.FusedMultiplyAdd(x0, y, c03);
                    c13 = Vector256.FusedMultiplyAdd(x1, y, c13);
                }
                if (TTokens.Count > 4) {
                    Vector256<float> y = Vector256.Load(y4 + i);
                    c04 = Vector256.FusedMultiplyAdd(x0, y, c04);
                    c14 = Vector256.FusedMultiplyAdd(x1, y, c14);
                }
                if (TTokens.Count > 5) {
                    Vector256<float> y = Vector256.Load(y5 + i);
                    c05 = Vector256.FusedMultiplyAdd(x0, y, c05);
                    c15 = Vector256.FusedMultiplyAdd(x1, y, c15);
                }
            }
            if (last)
            {
                TSink.Put(sums, odd, 0, c00);
                if (TTokens.Count > 1) TSink.Put(sums, odd, 2, c01);
                if (TTokens.Count > 2) TSink.Put(sums, odd, 4, c02);
                if (TTokens.Count > 3) TSink.Put(sums, odd, 6, c03);
                if (TTokens.Count > 4) TSink.Put(sums, odd, 8, c04);
                if (TTokens.Count > 5) TSink.Put(sums, odd, 10, c05);
                TSink.Put(sums, odd, 1, c10);
                if (TTokens.Count > 1) TSink.Put(sums, odd, 3, c11);
                if (TTokens.Count > 2) TSink.Put(sums, odd, 5, c12);
                if (TTokens.Count > 3) TSink.Put(sums, odd, 7, c13);
                if (TTokens.Count > 4) TSink.Put(sums, odd, 9, c14);
                if (TTokens.Count > 5) TSink.Put(sums, odd, 11, c15);
            }
            else
            {
                chains[0] = c00;
                if (TTokens.Count > 1) chains[2] = c01;
                if (TTokens.Count > 2) chains[4] = c02;
                if (TTokens.Count > 3) chains[6] = c03;
                if (TTokens.Count > 4) chains[8] = c04;
                if (TTokens.Count > 5) chains[10] = c05;
                chains[1] = c10;
                if (TTokens.Count > 1) chains[3] = c11;
                if (TTokens.Count > 2) chains[5] = c12;
                if (TTokens.Count > 3) chains[7] = c13;
                if (TTokens.Count > 4) chains[9] = c14;
                if (TTokens.Count > 5) chains[11] = c15;
            }
            prefetch.Step();
        }
    }
}
