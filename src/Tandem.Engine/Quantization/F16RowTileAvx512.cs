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
        int chunks = Chunks(vectorEnd);
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
                Pass<TTokens, F16Accumulator0, InOrder>(w + i * tileFloats, stride, panel, t0, 0, begin, chunkEnd, sums + i * slots, odd + i * slots,
                    chains + (4 * i + 0) * ChainSlots, first, last);
                prefetch.Step();
            }
            for (int i = 0; i < tiles; i++)
            {
                Pass<TTokens, F16Accumulator2, InOrder>(w + i * tileFloats, stride, panel, t0, 32, begin, chunkEnd, sums + i * slots, odd + i * slots,
                    chains + (4 * i + 2) * ChainSlots, first, last);
                prefetch.Step();
            }
            for (int i = 0; i < tiles; i++)
            {
                Pass<TTokens, F16Accumulator1, InOrder>(w + i * tileFloats, stride, panel, t0, 16, begin, chunkEnd, sums + i * slots, odd + i * slots,
                    chains + (4 * i + 1) * ChainSlots, first, last);
                prefetch.Step();
            }
            for (int i = 0; i < tiles; i++)
            {
                Pass<TTokens, TFold, InOrder>(w + i * tileFloats, stride, panel, t0, 48, begin, chunkEnd, sums + i * slots, odd + i * slots,
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

    /// <summary>Most token groups of one <see cref="ChainBlock{TFold}"/> call (32 tokens in groups of up to six).</summary>
    public const int MaxChainGroups = 6;

    /// <summary>Floats from one row's widened chain to the next in <see cref="ChainBlock{TFold}"/>'s scratch (a quarter of a chunk).</summary>
    public const int ChainStride = ChunkCols / 4;

    /// <summary>Floats of <see cref="ChainBlock{TFold}"/>'s scratch: one chain of one chunk of a block's rows (32 KB, in L1).</summary>
    public const int ChainScratchFloats = F16WidenedRows.MaxRows * ChainStride;

    /// <summary>Calls to the prefetch's <see cref="SpreadPrefetch.Step"/> of one <see cref="ChainBlock{TFold}"/> call.</summary>
    public static int ChainSteps(int tiles, int groups, int vectorEnd) => 4 * tiles * groups * Chunks(vectorEnd);

    /// <summary>Chunks of columns one block runs in (at least one).</summary>
    private static int Chunks(int vectorEnd) => Math.Max(1, (vectorEnd + ChunkCols - 1) / ChunkCols);

    /// <summary>
    /// The reduced vector sums of a block of <paramref name="blockRows"/> F16 rows (<paramref name="rows"/>,
    /// <paramref name="rowBytes"/> apart) against every token group of <paramref name="panel"/> (an
    /// <see cref="F16UnpackedPanel.Kernel"/>; group g is tokens <paramref name="groupStarts"/>[g] .. [g + 1]), the rows
    /// widened the unpacking way one accumulator chain at a time: for each chunk of columns and each chain, the block's
    /// elements of that chain are widened into <paramref name="scratch"/> (<see cref="ChainScratchFloats"/>: 16 rows × 512
    /// floats, which stay in L1), then every group's pass of that chain runs over every tile. Group g's tile i's row r,
    /// token k into <c>results[(g × MaxTiles + i) × ResultStride + k × Rows + r]</c>; row r's inf/NaN flag into
    /// <paramref name="special"/>. Each (row, token) chain sums the same products in the same order as
    /// <see cref="Block{TTokens, TFold}"/>'s, and is folded by the same sinks in the same order (a0, a2, a1, a3).
    /// Where the whole rows are widened first (<see cref="F16WidenedRows.WidenUnpacked"/>: 128 KB at 2048 columns, 360 KB at
    /// 5632), that copy lives in L2: each of its stores fetches a line into L1 and writes one back, and every token group
    /// reads it back again. Here it is written and read in L1, at the price of loading the F16 rows twice (a chain takes
    /// half of each 64-byte load; after the previous block's <paramref name="prefetch"/>, stepped once per tile pass:
    /// <see cref="ChainSteps"/> times, they come from L1/L2). That measured faster only where a row spans several chunks
    /// (docs/performance.md, "F16 row tiles widened a chain at a time"), which is where the tiled matmul uses it.
    /// A job's first block (<paramref name="fetchAhead"/>) asks for its rows three ahead as the first chain widens them.
    /// </summary>
    // SkipLocalsInit: as Block's, the sums of missing tokens and of a ragged tile's stale rows are reduced into lanes nobody reads.
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    public static void ChainBlock<TFold>(byte* rows, long rowBytes, int blockRows, float* scratch, in F16ActivationPanel panel, int* groupStarts,
        int groups, int vectorEnd, float* results, bool* special, ref SpreadPrefetch prefetch, bool fetchAhead)
        where TFold : IF16AccumulatorSink
    {
        const int slots = Rows * 8;
        int tiles = (blockRows + Rows - 1) / Rows;
        if ((uint)groups > MaxChainGroups) throw new ArgumentOutOfRangeException(nameof(groups));
        Vector512<float>* sums = stackalloc Vector512<float>[groups * MaxTiles * slots];
        Vector512<float>* odd = stackalloc Vector512<float>[groups * MaxTiles * slots];
        int chunks = Chunks(vectorEnd);
        // Chains that continue into the next chunk of columns: group g, tile i, accumulator j at ((g × MaxTiles + i) × 4 + j) × ChainSlots.
        Vector512<float>* chains = null;
        if (chunks > 1)
        {
            Vector512<float>* carried = stackalloc Vector512<float>[groups * MaxTiles * 4 * ChainSlots];
            chains = carried;
        }
        int chunkLength = chunks <= 1 ? vectorEnd : ((vectorEnd + chunks - 1) / chunks + Step - 1) & -Step;
        for (int r = 0; r < blockRows; r++) special[r] = false;
        int begin = 0;
        do
        {
            int chunkEnd = Math.Min(vectorEnd, begin + chunkLength);
            bool first = begin == 0, last = chunkEnd == vectorEnd;
            var c = new ChainArgs(rows, rowBytes, blockRows, tiles, scratch, groupStarts, groups, sums, odd, chains, special, begin, chunkEnd, first, last);
            ChainPasses<F16Accumulator0>(c, panel, 0, ref prefetch, fetchAhead && first);
            ChainPasses<F16Accumulator2>(c, panel, 32, ref prefetch, false);
            ChainPasses<F16Accumulator1>(c, panel, 16, ref prefetch, false);
            ChainPasses<TFold>(c, panel, 48, ref prefetch, false);
            begin = chunkEnd;
        } while (begin < vectorEnd);
        for (int g = 0; g < groups; g++)
            for (int i = 0; i < tiles; i++)
            {
                Vector512<float>* s = sums + (g * MaxTiles + i) * slots;
                float* dst = results + (g * MaxTiles + i) * ResultStride;
                Vector512.Store(TransposedReduce.ReduceAdd16(s), dst);
                if (groupStarts[g + 1] - groupStarts[g] > 4)
                    Vector512.Store(TransposedReduce.ReduceAdd8(s + 16), dst + 16);
            }
    }

    /// <summary>What one chunk of <see cref="ChainBlock{TFold}"/> hands its passes.</summary>
    private readonly struct ChainArgs(byte* rows, long rowBytes, int blockRows, int tiles, float* scratch, int* groupStarts, int groups,
        Vector512<float>* sums, Vector512<float>* odd, Vector512<float>* chains, bool* special, int begin, int chunkEnd, bool first, bool last)
    {
        public readonly byte* RowData = rows;
        public readonly long RowBytes = rowBytes;
        public readonly int BlockRows = blockRows, Tiles = tiles, Groups = groups, Begin = begin, ChunkEnd = chunkEnd;
        public readonly float* Scratch = scratch;
        public readonly int* GroupStarts = groupStarts;
        public readonly Vector512<float>* Sums = sums, Odd = odd, Chains = chains;
        public readonly bool* Special = special;
        public readonly bool First = first, Last = last;
    }

    /// <summary>One chain (<paramref name="offset"/>) of one chunk: the block's elements of it widened, then every group's passes over every tile.</summary>
    private static void ChainPasses<TSink>(in ChainArgs c, in F16ActivationPanel panel, int offset, ref SpreadPrefetch prefetch, bool fetchAhead)
        where TSink : IF16AccumulatorSink
    {
        for (int r = 0; r < c.BlockRows; r++)
        {
            if (fetchAhead && r + 3 < c.BlockRows) RowTiles.Prefetch(c.RowData + (r + 3) * c.RowBytes, c.RowBytes);
            c.Special[r] |= F16WidenedRows.WidenUnpackedChain((ushort*)(c.RowData + r * c.RowBytes), c.Begin, c.ChunkEnd, offset,
                c.Scratch + r * ChainStride);
        }
        for (int g = 0; g < c.Groups; g++)
        {
            int t0 = c.GroupStarts[g];
            switch (c.GroupStarts[g + 1] - t0)
            {
                case 6: TilePasses<Count6, TSink>(c, panel, g, t0, offset, ref prefetch); break;
                case 5: TilePasses<Count5, TSink>(c, panel, g, t0, offset, ref prefetch); break;
                case 4: TilePasses<Count4, TSink>(c, panel, g, t0, offset, ref prefetch); break;
                case 3: TilePasses<Count3, TSink>(c, panel, g, t0, offset, ref prefetch); break;
                case 2: TilePasses<Count2, TSink>(c, panel, g, t0, offset, ref prefetch); break;
                default: TilePasses<Count1, TSink>(c, panel, g, t0, offset, ref prefetch); break;
            }
        }
    }

    private static void TilePasses<TTokens, TSink>(in ChainArgs c, in F16ActivationPanel panel, int g, int t0, int offset, ref SpreadPrefetch prefetch)
        where TTokens : ITileCount where TSink : IF16AccumulatorSink
    {
        const int slots = Rows * 8;
        for (int i = 0; i < c.Tiles; i++)
        {
            int at = g * MaxTiles + i;
            Pass<TTokens, TSink, ChainLayout>(c.Scratch + i * Rows * ChainStride, ChainStride, panel, t0, offset, c.Begin, c.ChunkEnd,
                c.Sums + at * slots, c.Odd + at * slots, c.Chains + (at * 4 + offset / 16) * ChainSlots, c.First, c.Last);
            prefetch.Step();
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
    private static void Pass<TTokens, TSink, TLayout>(float* w, int stride, in F16ActivationPanel panel, int t0, int offset, int begin, int chunkEnd,
        Vector512<float>* sums, Vector512<float>* odd, Vector512<float>* chains, bool first, bool last)
        where TTokens : ITileCount where TSink : IF16AccumulatorSink where TLayout : IWidenedLayout
    {
        // Rows widened whole (element order): this chain's 16 elements of step s at w + 64s + offset. One chain of one chunk
        // (ChainBlock): at w + 16s, the chunk's steps counted from its start.
        float* w0 = TLayout.OneChain ? w : w + offset + begin;
        float* w1 = w0 + 1 * stride;
        float* w2 = w0 + 2 * stride;
        float* w3 = w0 + 3 * stride;
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
        for (nint i = 0, k = 0; i < end; i += 64, k += 16)
        {
            nint wi = TLayout.OneChain ? k : i;
            Vector512<float> x0 = Vector512.Load(w0 + wi), x1 = Vector512.Load(w1 + wi), x2 = Vector512.Load(w2 + wi), x3 = Vector512.Load(w3 + wi);
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

/// <summary>Where <see cref="F16RowTileAvx512"/>'s passes find a chain's widened weights.</summary>
internal interface IWidenedLayout
{
    /// <summary>False: whole rows in element order; true: one chain of one chunk, 16 floats a step.</summary>
    static abstract bool OneChain { get; }
}

/// <summary>Whole rows widened in element order (<see cref="F16WidenedRows.Widen"/>, <see cref="F16WidenedRows.WidenUnpacked"/>).</summary>
internal readonly struct InOrder : IWidenedLayout
{
    public static bool OneChain => false;
}

/// <summary>One chain of one chunk of columns (<see cref="F16WidenedRows.WidenUnpackedChain"/>).</summary>
internal readonly struct ChainLayout : IWidenedLayout
{
    public static bool OneChain => true;
}
