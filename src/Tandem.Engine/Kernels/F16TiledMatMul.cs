using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Kernels;

/// <summary>
/// The body of a batch-invariant matmul with F16 weights, against an <see cref="F16ActivationPanel"/>, every
/// (row, token) result bit-identical to <c>RowF16.Dot</c>. Kernels are chosen by ggml's SIMD width because that
/// width fixes the summation order the results must follow (<see cref="GgmlFloatDot.VecDotF16"/>):
/// <list type="bullet">
/// <item>batches of <see cref="MinRowTileTokens"/> tokens or more: row tiles (<see cref="F16RowTileAvx512"/>, 4 rows
/// × 6 tokens; <see cref="F16RowTileAvx2"/>, 2 × 6) over blocks of 16 weight rows widened once per batch
/// (<see cref="F16WidenedRows"/>; up to <see cref="MaxUnpackedRowTileTokens"/> tokens with AVX-512 BW, widened the
/// cheaper unpacking way against an <see cref="F16UnpackedPanel"/>);</item>
/// <item>one token (batch-1 decode): the matrix × one-token kernels (<see cref="F16GemvAvx512"/>, four, two or one rows by row length;
/// <see cref="F16GemvAvx2"/>, two) over a <see cref="F16GemvPanel"/>, with the cheaper unpacking widening;</item>
/// <item>2 to <see cref="MaxPairTileTokens"/> tokens on rows of <see cref="MinPairTileCols"/> columns or more, with
/// AVX-512 BW: pair tiles (<see cref="F16PairTileAvx512"/>, 2 rows × 6 tokens) that widen each weight vector in
/// registers by unpacking, against an <see cref="F16UnpackedPanel"/>;</item>
/// <item>other small batches: one row × the batch's tokens (<see cref="F16TileAvx512"/>, <see cref="F16TileAvx2"/>),
/// widening each weight vector in registers, since a widened copy would be read by too few tokens to pay.</item>
/// <item>where ggml has no vector F16 dot (width 0: Arm64, x64 without AVX2), every batch size: the portable tiles
/// (<see cref="F16TilePortable"/>, 4 rows × 4 tokens in <see cref="Vector128"/> lanes of rows), following the scalar dot.</item>
/// </list>
/// As a team job its items are weight rows; <see cref="Set"/> gives it one matmul at a time.
/// </summary>
internal sealed unsafe class F16TiledMatMul : IParallelJob
{
    /// <summary>
    /// Whether these kernels run here: at ggml's widths 16 and 8, and where ggml has no vector F16 dot (width 0) on
    /// accelerated <see cref="Vector128"/> (<see cref="F16TilePortable"/>); else the four-token kernel runs.
    /// </summary>
    public static bool IsSupported => GgmlSimd.Width is 16 or 8 || (RowF16.SumsInOrder && Vector128.IsHardwareAccelerated);

    /// <summary>Smallest batch that runs on the row tiles (at 4 tokens they measured 1.5x slower than the one-row kernel).</summary>
    public const int MinRowTileTokens = 8;

    /// <summary>
    /// Largest batch that runs on the pair tiles (<see cref="F16PairTileAvx512"/>, AVX-512 BW) instead of the one-row
    /// kernel or the row tiles, for rows of <see cref="MinPairTileCols"/> columns or more. Measured at TinyLlama's
    /// shapes, 1 thread (docs/performance.md, "F16 batches of a few tokens"): at 4 tokens 1.5-1.9x faster than the one-row
    /// kernel on the matrices out of cache, at 8 1.1-1.3x faster than the row tiles; at 12-16 level with them or up to
    /// 1.1x slower, from 24 slower (the unpacking is redone for every token group, the row tiles' widening once per block).
    /// </summary>
    public const int MaxPairTileTokens = 8;

    /// <summary>
    /// Shortest rows for the pair tiles: at SmolLM's 576 columns each pass is nine steps and the tiles' fixed work per
    /// pair (reductions, finishing each result) made them up to 1.3x slower than the one-row kernel at 2-6 tokens.
    /// </summary>
    public const int MinPairTileCols = 2048;

    private const int MaxTokensPerTile = 6;

    /// <summary>How many rows ahead the widening of a job's first block asks for its rows.</summary>
    private const int WidenAhead = 3;

    /// <summary>Floats of a block's results: AVX-512, 4 tiles of two 16-lane vectors; AVX2, 8 tiles of two 8-lane vectors.</summary>
    private const int ResultFloats = 128;

    private readonly float[] _widened;
    private readonly int _scratchFloats;
    private readonly float[] _gemvActivation;
    private readonly float[] _unpackedActivations;
    private readonly float[] _pairState;
    private readonly NextChunkHint _following;
    private WeightMatrix _w;
    private F16ActivationPanel _panel;
    private F16GemvPanel _gemvPanel;
    private F16UnpackedPanel _unpackedPanel;
    private float* _y;

    /// <summary>Whether one-token matmuls run on the matrix × one-token kernels (they need AVX-512 BW at width 16).</summary>
    private static bool GemvSupported => GgmlSimd.Width == 8 || (GgmlSimd.Width == 16 && Avx512BW.IsSupported);

    /// <param name="team">The team that runs this job: each member widens its row tiles into its own part of the scratch,
    /// and a one-token chunk prefetches into the team's next unclaimed row.</param>
    /// <param name="maxCols">Largest input width of any weight.</param>
    public F16TiledMatMul(ThreadTeam team, int maxCols)
    {
        int workers = team.Size;
        _following = new NextChunkHint(team, 1);
        _scratchFloats = (Math.Max(F16WidenedRows.ScratchFloats(maxCols), PairTilesSupported ? F16RowTileAvx512.ChainScratchFloats : 0) + 15) & ~15;
        _widened = GC.AllocateArray<float>(workers * _scratchFloats + 16, pinned: true);
        _gemvActivation = GC.AllocateArray<float>(F16GemvPanel.FloatsNeeded(maxCols) + 16, pinned: true);
        _unpackedActivations = PairTilesSupported
            ? GC.AllocateArray<float>((int)F16UnpackedPanel.FloatsNeeded(MaxUnpackedTokens, maxCols) + 16, pinned: true) : [];
        _pairState = PairTilesSupported ? GC.AllocateArray<float>(workers * PairStateFloats + 16, pinned: true) : [];
    }

    /// <summary>Whether batches of 2..<see cref="MaxPairTileTokens"/> tokens can run on <see cref="F16PairTileAvx512"/>.</summary>
    private static bool PairTilesSupported => GgmlSimd.Width == 16 && Avx512BW.IsSupported;

    /// <summary>F16 bytes of a block of <see cref="PairTiles"/>' rows: a quarter of a 1 MB L2, beside the activations.</summary>
    private const int PairBlockBytes = 256 * 1024;

    /// <summary>Most rows of a block of <see cref="PairTiles"/> (the pairs' chains wait in a worker's part of the state).</summary>
    private const int MaxPairBlockRows = 64;

    /// <summary>Most columns of one pass of <see cref="PairTiles"/> (a half of them per pass).</summary>
    private const int PairChunkCols = 2048;

    /// <summary>Floats of one worker's pair-tile state.</summary>
    private const int PairStateFloats = MaxPairBlockRows / F16PairTileAvx512.Rows * F16PairTileAvx512.StateVectors * 16;

    private static bool UsesPairTiles(int tokens, int cols) =>
        PairTilesSupported && tokens is > 1 and <= MaxPairTileTokens && cols >= MinPairTileCols;

    /// <summary>
    /// Largest batch whose row tiles widen their blocks the unpacking way (<see cref="F16WidenedRows.WidenUnpacked"/>,
    /// AVX-512 BW: three operations per 16 weights instead of eight, the 2^112 carried by the activations) and run
    /// against an <see cref="F16UnpackedPanel"/>, instead of <see cref="F16WidenedRows.Widen"/> against the panel as it
    /// is. Where a block's widened copy serves few token groups the widening is a large share of the matmul: at 8-16
    /// tokens the unpacking measured level to 1.1x faster (one thread, both ways in one build, alternating; 9 of 12 pairs
    /// faster at 16 tokens on TinyLlama's shapes, all 9 at 8 tokens on SmolLM's), at 32 level; at 64 level and from there
    /// the widening is amortised, and 512-token prefill keeps its path (docs/performance.md, "F16 row tiles over
    /// unpacked rows").
    /// </summary>
    public const int MaxUnpackedRowTileTokens = 32;

    private static bool UsesUnpackedRowTiles(int tokens, int cols) =>
        PairTilesSupported && !UsesPairTiles(tokens, cols) && tokens >= MinRowTileTokens && tokens <= MaxUnpackedRowTileTokens;

    /// <summary>Most tokens an <see cref="F16UnpackedPanel"/> holds here.</summary>
    private static int MaxUnpackedTokens => Math.Max(MaxPairTileTokens, MaxUnpackedRowTileTokens);

    /// <summary>The matmul that the next run of this job computes.</summary>
    public void Set(in WeightMatrix w, in F16ActivationPanel panel, float* y)
    {
        if (w.Type != GgmlType.F16)
            throw new ArgumentException($"{GgmlTypeInfo.Name(w.Type)} weights given to the F16 kernels", nameof(w));
        if (F16WidenedRows.ScratchFloats(w.Cols) > _scratchFloats)
            throw new ArgumentException($"{w.Name}: {w.Cols} columns exceed the F16 kernels' scratch size", nameof(w));
        _w = w; _panel = panel; _y = y;
        if (panel.Tokens == 1 && GemvSupported)
            _gemvPanel = new F16GemvPanel(panel, (float*)(((nuint)Unsafe.AsPointer(ref _gemvActivation[0]) + 63) & ~(nuint)63));
        if (UsesPairTiles(panel.Tokens, panel.Cols) || UsesUnpackedRowTiles(panel.Tokens, panel.Cols))
            _unpackedPanel = new F16UnpackedPanel(panel, (float*)(((nuint)Unsafe.AsPointer(ref _unpackedActivations[0]) + 63) & ~(nuint)63));
    }

    public void Execute(int begin, int end, int worker)
    {
        if (GgmlSimd.Width == 0)
        {
            F16TilePortable.Rows(_w, _panel, _y, begin, end, WorkerScratch(worker));
            return;
        }
        if (_panel.Tokens == 1 && GemvSupported)
        {
            if (GgmlSimd.Width == 16) F16GemvAvx512.Rows(_w, _gemvPanel, _y, begin, end, _following);
            else GemvRows.Run<F16GemvAvx2.Kernel, F16GemvPanel>(_w, _gemvPanel, _y, begin, end, _following);
            return;
        }
        if (UsesPairTiles(_panel.Tokens, _panel.Cols))
        {
            PairTiles(_w, _unpackedPanel, _y, begin, end, _following,
                (Vector512<float>*)(((nuint)Unsafe.AsPointer(ref _pairState[0]) + 63) & ~(nuint)63) + worker * (PairStateFloats / 16));
            return;
        }
        if (_panel.Tokens < MinRowTileTokens)
        {
            Rows(_w, _panel, _y, begin, end);
            return;
        }
        if (UsesUnpackedRowTiles(_panel.Tokens, _panel.Cols))
            RowTiles(_w, _panel, _unpackedPanel.Kernel, true, _y, begin, end, WorkerScratch(worker), _following);
        else
            RowTiles(_w, _panel, _panel, false, _y, begin, end, WorkerScratch(worker), _following);
    }

    /// <summary>The 64-byte aligned part of the pinned scratch for <paramref name="worker"/>.</summary>
    private float* WorkerScratch(int worker) =>
        (float*)(((nuint)Unsafe.AsPointer(ref _widened[0]) + 63) & ~(nuint)63) + worker * _scratchFloats;

    /// <summary>
    /// Rows <paramref name="rowBegin"/>..<paramref name="rowEnd"/> in blocks of <see cref="F16WidenedRows.MaxRows"/>:
    /// each block is widened into <paramref name="scratch"/> once, then every group of six tokens runs against the
    /// block's row tiles while its activations are in L1. A ragged last tile computes its missing rows from stale
    /// scratch and drops them. The tiles read <paramref name="kernelPanel"/>: <paramref name="panel"/> itself, or where
    /// <paramref name="unpacked"/> its <see cref="F16UnpackedPanel.Kernel"/> copy, the blocks then widened the unpacking way;
    /// on rows longer than a chunk of columns (<see cref="UsesChainWise"/>) a chain of a chunk at a time, every token group's
    /// passes of it run before the next is widened (<see cref="F16RowTileAvx512.ChainBlock{TFold}"/>).
    /// </summary>
    [SkipLocalsInit]
    private static void RowTiles(in WeightMatrix w, in F16ActivationPanel panel, in F16ActivationPanel kernelPanel, bool unpacked,
        float* y, int rowBegin, int rowEnd, float* scratch, NextChunkHint following)
    {
        float* results = stackalloc float[ResultFloats * F16RowTileAvx512.MaxChainGroups];
        bool* special = stackalloc bool[F16WidenedRows.MaxRows];
        int* groupStarts = stackalloc int[F16RowTileAvx512.MaxChainGroups + 1];
        int rows = w.Rows, tokens = panel.Tokens, cols = panel.Cols;
        int vectorEnd = F16ActivationPanel.VectorEnd(cols), stride = F16WidenedRows.Stride(cols);
        int tileRows = GgmlSimd.Width == 16 ? F16RowTileAvx512.Rows : F16RowTileAvx2.Rows;
        // Groups of six tokens, but no group of one or two (8 tokens: 4 + 4, not 6 + 2): such a group loads four weight
        // vectors for every four or eight FMAs. Each (row, token) sum is the same whatever group its token falls in.
        int groups = (tokens + MaxTokensPerTile - 1) / MaxTokensPerTile;
        bool chainWise = unpacked && UsesChainWise(cols);
        if (chainWise)
            for (int g = 0; g <= groups; g++) groupStarts[g] = GroupStart(tokens, groups, g);
        for (int b0 = rowBegin; b0 < rowEnd; b0 += F16WidenedRows.MaxRows)
        {
            int blockRows = Math.Min(F16WidenedRows.MaxRows, rowEnd - b0);
            // The next block's F16 rows are fetched while this block's tiles run, a few lines per tile and accumulator: widened
            // in one burst straight from memory, a block's rows stalled the widening on every line (a matrix out of
            // cache ran at 1.5-2.3x the in-cache time per product at 8-16 tokens, where the tiles are short).
            // The last block fetches the first block of the hand-out this thread probably claims next: at TinyLlama's shapes a
            // hand-out is 64 rows, and its first block, fetched by nothing, stalled the widening from memory.
            int tiles = (blockRows + tileRows - 1) / tileRows;
            int nextBlock = b0 + blockRows, nextRows = Math.Min(F16WidenedRows.MaxRows, rowEnd - nextBlock);
            if (nextRows <= 0 && (nextBlock = following.FirstRow(rows)) >= 0)
                nextRows = Math.Min(F16WidenedRows.MaxRows, rows - nextBlock);
            var prefetch = new SpreadPrefetch(w.Data + (long)Math.Max(0, nextBlock) * w.RowBytes, (long)nextRows * w.RowBytes,
                chainWise ? F16RowTileAvx512.ChainSteps(tiles, groups, vectorEnd) : groups * 4 * tiles);
            if (chainWise)
            {
                // Every token's line of y for this block, asked for now: in cache when the results are stored.
                if (Sse.IsSupported)
                    for (int t = 0; t < tokens; t++)
                    {
                        float* line = y + (long)t * rows + b0;
                        Sse.Prefetch0(line);
                        Sse.Prefetch0(line + blockRows - 1);
                    }
                F16RowTileAvx512.ChainBlock<F16UnpackedAccumulator3>(w.Data + (long)b0 * w.RowBytes, w.RowBytes, blockRows, scratch, kernelPanel,
                    groupStarts, groups, vectorEnd, results, special, ref prefetch, b0 == rowBegin);
                bool plainBlock = vectorEnd == cols;
                for (int r = 0; r < blockRows; r++) plainBlock &= !special[r];
                for (int g = 0; g < groups; g++)
                    StoreGroup(w, panel, y, b0, blockRows, groupStarts[g], groupStarts[g + 1] - groupStarts[g],
                        results + g * ResultFloats, special, plainBlock);
                continue;
            }
            // Without a tail or an inf/NaN, FinishWidened returns the vector sum as it is: the results are stored directly.
            bool plain = vectorEnd == cols;
            for (int r = 0; r < blockRows; r++)
            {
                // A job's first block has had no tiles to hide its fetch behind: its widening asks a few rows ahead.
                if (b0 == rowBegin && r + WidenAhead < blockRows)
                    Kernels.RowTiles.Prefetch(w.Data + (b0 + r + WidenAhead) * w.RowBytes, w.RowBytes);
                ushort* row = (ushort*)(w.Data + (b0 + r) * w.RowBytes);
                special[r] = unpacked ? F16WidenedRows.WidenUnpacked(row, vectorEnd, scratch + r * stride)
                    : F16WidenedRows.Widen(row, vectorEnd, scratch + r * stride);
                plain &= !special[r];
            }
            for (int g = 0; g < groups; g++)
            {
                int t = GroupStart(tokens, groups, g), count = GroupStart(tokens, groups, g + 1) - t;
                // The group's results go to a line of y per token (the block's 16 rows, 64 bytes): asked for now, they are
                // in cache when the tiles end instead of each store waiting on its line.
                if (Sse.IsSupported)
                    for (int k = 0; k < count; k++)
                    {
                        float* line = y + (long)(t + k) * rows + b0;
                        Sse.Prefetch0(line);
                        Sse.Prefetch0(line + blockRows - 1);
                    }
                if (unpacked) Avx512Block<F16UnpackedAccumulator3>(count, scratch, stride, tiles, kernelPanel, t, vectorEnd, results, ref prefetch);
                else BlockKernel(count, scratch, stride, tiles, panel, t, vectorEnd, results, ref prefetch);
                StoreGroup(w, panel, y, b0, blockRows, t, count, results, special, plain);
            }
        }
    }

    /// <summary>
    /// Whether the unpacked row tiles widen a block one chain of one chunk of columns at a time
    /// (<see cref="F16RowTileAvx512.ChainBlock{TFold}"/>) instead of whole rows first: for rows longer than one chunk
    /// (<see cref="F16RowTileAvx512.ChunkCols"/>), whose whole widened block (360 KB at 5632 columns) is far from L1. At
    /// TinyLlama's 2048 × 5632 down projection, 16 tokens, one thread, it measured faster in 12 of 13 alternating pairs
    /// (median 1.06x); on rows of one chunk (2048 × 2048, 5632 × 2048, 32000 × 2048) level to 1.2x slower at 12-16 tokens,
    /// as the rows' F16 are loaded twice and a chain's unpack uses half of each load (docs/performance.md, "F16 row tiles
    /// widened a chain at a time").
    /// </summary>
    private static bool UsesChainWise(int cols) => F16ActivationPanel.VectorEnd(cols) > F16RowTileAvx512.ChunkCols;

    /// <summary>A token group's results of a block (<see cref="RowTiles"/>) into y, finished where a row or token needs it.</summary>
    private static void StoreGroup(in WeightMatrix w, in F16ActivationPanel panel, float* y, int b0, int blockRows, int t, int count,
        float* results, bool* special, bool plain)
    {
        int rows = w.Rows, cols = panel.Cols, vectorEnd = F16ActivationPanel.VectorEnd(cols);
        int tileRows = GgmlSimd.Width == 16 ? F16RowTileAvx512.Rows : F16RowTileAvx2.Rows;
        int resultStride = GgmlSimd.Width == 16 ? F16RowTileAvx512.ResultStride : F16RowTileAvx2.ResultStride;
        for (int k = 0; k < count; k++)
        {
            float* sums = results + k * tileRows; // token-major within a tile
            float* dst = y + (long)(t + k) * rows + b0;
            if (plain && blockRows == F16WidenedRows.MaxRows && !panel.HasSpecial(t + k))
                StoreBlock(sums, dst);
            else
                for (int r0 = 0, tile = 0; r0 < blockRows; r0 += tileRows, tile++)
                    for (int r = 0; r < Math.Min(tileRows, blockRows - r0); r++)
                        dst[r0 + r] = GgmlFloatDot.FinishWidened((ushort*)(w.Data + (b0 + r0 + r) * w.RowBytes), panel.Row(t + k),
                            cols, vectorEnd, special[r0 + r] || panel.HasSpecial(t + k), sums[tile * resultStride + r]);
        }
    }

    /// <summary>
    /// One token's sums of a whole block (<see cref="F16WidenedRows.MaxRows"/> rows, all plain) into its 16 floats of y:
    /// a token's sums are a short run in each tile's results (4 floats on AVX-512, 2 on AVX2), copied run by run.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreBlock(float* sums, float* dst)
    {
        if (GgmlSimd.Width == 16)
            for (int tile = 0; tile < F16RowTileAvx512.MaxTiles; tile++)
                Vector128.Store(Vector128.Load(sums + tile * F16RowTileAvx512.ResultStride), dst + tile * F16RowTileAvx512.Rows);
        else
            for (int tile = 0; tile < F16RowTileAvx2.MaxTiles; tile++)
                *(long*)(dst + tile * F16RowTileAvx2.Rows) = *(long*)(sums + tile * F16RowTileAvx2.ResultStride);
    }

    /// <summary>The first token of group <paramref name="g"/> of the <paramref name="groups"/> that <paramref name="tokens"/> run in.</summary>
    private static int GroupStart(int tokens, int groups, int g)
    {
        // Six tokens a group; a remainder of one or two is evened out with the group before it (8 = 6 + 2 -> 4 + 4).
        int rest = tokens - (groups - 1) * MaxTokensPerTile;
        if (g == groups) return tokens;
        if (g < groups - 1 || rest > 2 || groups == 1) return Math.Min(g * MaxTokensPerTile, tokens);
        return (groups - 2) * MaxTokensPerTile + (MaxTokensPerTile + rest + 1) / 2;
    }

    /// <summary>y[t × w.Rows + r] for rows <paramref name="rowBegin"/>..<paramref name="rowEnd"/> and every token of the panel.</summary>
    private static void Rows(in WeightMatrix w, in F16ActivationPanel panel, float* y, int rowBegin, int rowEnd)
    {
        float* results = stackalloc float[MaxTokensPerTile];
        int rows = w.Rows, tokens = panel.Tokens;
        int perTile = GgmlSimd.Width == 16 ? 6 : 3;
        int vectorEnd = F16ActivationPanel.VectorEnd(panel.Cols);
        // Token groups outside, rows inside: a group's widened activations (6 × 4 bytes per column) stay in L1
        // while the job's rows stream past, each F16 weight vector feeding one FMA per token. The other order
        // re-read every activation from L2 for every row (one 64-byte load per FMA) and ran at half the speed.
        for (int t = 0; t < tokens; t += perTile)
        {
            int count = Math.Min(perTile, tokens - t);
            for (int r = rowBegin; r < rowEnd; r++)
            {
                ushort* wr = (ushort*)(w.Data + r * w.RowBytes);
                bool rowSpecial = Kernel(count, wr, panel, t, results);
                for (int k = 0; k < count; k++)
                    y[(long)(t + k) * rows + r] = GgmlFloatDot.FinishWidened(wr, panel.Row(t + k), panel.Cols, vectorEnd,
                        rowSpecial || panel.HasSpecial(t + k), results[k]);
            }
        }
    }

    /// <summary>
    /// y[t × w.Rows + r] for rows <paramref name="rowBegin"/>..<paramref name="rowEnd"/> and every token of the panel, two
    /// rows at a time (an odd last row is computed twice and its copy dropped) against groups of up to six tokens, in
    /// blocks of rows small enough to stay in L2 from one token group to the next (<see cref="PairBlockBytes"/>). Within a
    /// group, each half of the steps runs over every pair of the block, a chunk of <see cref="PairChunkCols"/> columns at a
    /// time, so that the group's activations for it (6 tokens × 1024 columns × 4 bytes) stay in L1 while the pairs' rows
    /// stream past; the pairs' chains wait in <paramref name="state"/> between passes. A block's rows come from memory
    /// once, in its first group: the first group's pairs fetch the next pair's rows as they run, and the last group's
    /// pairs fetch the rows one block ahead, in this hand-out or else in the hand-out <paramref name="following"/> says
    /// this thread probably claims next, so that the next block's first group finds them in cache.
    /// </summary>
    private static void PairTiles(in WeightMatrix w, in F16UnpackedPanel panel, float* y, int rowBegin, int rowEnd, NextChunkHint following,
        Vector512<float>* state)
    {
        float* results = stackalloc float[16];
        int* specials = stackalloc int[MaxPairBlockRows / F16PairTileAvx512.Rows];
        F16ActivationPanel source = panel.Source;
        int rows = w.Rows, tokens = panel.Tokens, cols = source.Cols;
        int vectorEnd = F16ActivationPanel.VectorEnd(cols);
        int groups = (tokens + F16PairTileAvx512.MaxTokens - 1) / F16PairTileAvx512.MaxTokens;
        int chunks = (vectorEnd + PairChunkCols - 1) / PairChunkCols;
        int chunkLength = ((vectorEnd + chunks - 1) / chunks + 63) & -64;
        int next = following.FirstRow(rows);
        int blockRows = (int)Math.Clamp(PairBlockBytes / w.RowBytes, 2, MaxPairBlockRows) & -2;
        for (int b0 = rowBegin; b0 < rowEnd; b0 += blockRows)
        {
            int b1 = Math.Min(rowEnd, b0 + blockRows), pairs = (b1 - b0 + 1) / 2;
            for (int g = 0; g < groups; g++)
            {
                int t = GroupStart(tokens, groups, g), count = GroupStart(tokens, groups, g + 1) - t;
                for (int p = 0; p < pairs; p++) specials[p] = 0;
                for (int c0 = 0; c0 < vectorEnd; c0 += chunkLength)
                {
                    int c1 = Math.Min(vectorEnd, c0 + chunkLength);
                    for (int half = 0; half < 2; half++)
                        for (int p = 0; p < pairs; p++)
                        {
                            int r = b0 + 2 * p;
                            ushort* wa = (ushort*)(w.Data + r * w.RowBytes);
                            ushort* wb = r + 1 < b1 ? (ushort*)(w.Data + (r + 1) * w.RowBytes) : wa;
                            int ahead = rows;
                            if (c0 == 0 && half == 0 && g == groups - 1)
                                ahead = r + blockRows < rowEnd ? r + blockRows : next >= 0 ? next + (r + blockRows - rowEnd) : rows;
                            else if (c0 == 0 && half == 0 && g == 0)
                                ahead = r + F16PairTileAvx512.Rows < b1 ? r + F16PairTileAvx512.Rows : rows;
                            var prefetch = new SpreadPrefetch(w.Data + (long)ahead * w.RowBytes,
                                (long)Math.Clamp(rows - ahead, 0, F16PairTileAvx512.Rows) * w.RowBytes, (c1 - c0) / 64);
                            specials[p] |= PairPass(count, wa, wb, panel, t, 32 * half, c0, c1,
                                state + p * F16PairTileAvx512.StateVectors, c0 == 0, ref prefetch);
                        }
                }
                for (int p = 0; p < pairs; p++)
                {
                    int r = b0 + 2 * p, rowCount = Math.Min(F16PairTileAvx512.Rows, b1 - r);
                    PairFinish(count, state + p * F16PairTileAvx512.StateVectors, results);
                    for (int k = 0; k < count; k++)
                        for (int i = 0; i < rowCount; i++)
                            y[(long)(t + k) * rows + r + i] = GgmlFloatDot.FinishWidened((ushort*)(w.Data + (r + i) * w.RowBytes),
                                source.Row(t + k), cols, vectorEnd, (specials[p] & (1 << i)) != 0 || source.HasSpecial(t + k), results[2 * k + i]);
                }
            }
        }
    }

    private static int PairPass(int count, ushort* wa, ushort* wb, in F16UnpackedPanel panel, int t0, int offset, int begin, int end,
        Vector512<float>* state, bool first, ref SpreadPrefetch prefetch) =>
        count switch
        {
            6 => F16PairTileAvx512.Pass<Count6>(wa, wb, panel, t0, offset, begin, end, state, first, ref prefetch),
            5 => F16PairTileAvx512.Pass<Count5>(wa, wb, panel, t0, offset, begin, end, state, first, ref prefetch),
            4 => F16PairTileAvx512.Pass<Count4>(wa, wb, panel, t0, offset, begin, end, state, first, ref prefetch),
            3 => F16PairTileAvx512.Pass<Count3>(wa, wb, panel, t0, offset, begin, end, state, first, ref prefetch),
            2 => F16PairTileAvx512.Pass<Count2>(wa, wb, panel, t0, offset, begin, end, state, first, ref prefetch),
            _ => F16PairTileAvx512.Pass<Count1>(wa, wb, panel, t0, offset, begin, end, state, first, ref prefetch),
        };

    private static void PairFinish(int count, Vector512<float>* state, float* results)
    {
        switch (count)
        {
            case 6: F16PairTileAvx512.Finish<Count6>(state, results); break;
            case 5: F16PairTileAvx512.Finish<Count5>(state, results); break;
            case 4: F16PairTileAvx512.Finish<Count4>(state, results); break;
            case 3: F16PairTileAvx512.Finish<Count3>(state, results); break;
            case 2: F16PairTileAvx512.Finish<Count2>(state, results); break;
            default: F16PairTileAvx512.Finish<Count1>(state, results); break;
        }
    }

    private static void BlockKernel(int count, float* w, int stride, int tiles, in F16ActivationPanel panel, int t0, int vectorEnd, float* results,
        ref SpreadPrefetch prefetch)
    {
        if (GgmlSimd.Width == 16)
            Avx512Block<F16Accumulator3>(count, w, stride, tiles, panel, t0, vectorEnd, results, ref prefetch);
        else
            switch (count)
            {
                case 6: F16RowTileAvx2.Block<Count6>(w, stride, tiles, panel, t0, vectorEnd, results, ref prefetch); break;
                case 5: F16RowTileAvx2.Block<Count5>(w, stride, tiles, panel, t0, vectorEnd, results, ref prefetch); break;
                case 4: F16RowTileAvx2.Block<Count4>(w, stride, tiles, panel, t0, vectorEnd, results, ref prefetch); break;
                case 3: F16RowTileAvx2.Block<Count3>(w, stride, tiles, panel, t0, vectorEnd, results, ref prefetch); break;
                case 2: F16RowTileAvx2.Block<Count2>(w, stride, tiles, panel, t0, vectorEnd, results, ref prefetch); break;
                default: F16RowTileAvx2.Block<Count1>(w, stride, tiles, panel, t0, vectorEnd, results, ref prefetch); break;
            }
    }

    /// <summary>The AVX-512 row tiles for a group of <paramref name="count"/> tokens, the last pass folded by <typeparamref name="TFold"/>.</summary>
    private static void Avx512Block<TFold>(int count, float* w, int stride, int tiles, in F16ActivationPanel panel, int t0, int vectorEnd,
        float* results, ref SpreadPrefetch prefetch) where TFold : IF16AccumulatorSink
    {
        switch (count)
        {
            case 6: F16RowTileAvx512.Block<Count6, TFold>(w, stride, tiles, panel, t0, vectorEnd, results, ref prefetch); break;
            case 5: F16RowTileAvx512.Block<Count5, TFold>(w, stride, tiles, panel, t0, vectorEnd, results, ref prefetch); break;
            case 4: F16RowTileAvx512.Block<Count4, TFold>(w, stride, tiles, panel, t0, vectorEnd, results, ref prefetch); break;
            case 3: F16RowTileAvx512.Block<Count3, TFold>(w, stride, tiles, panel, t0, vectorEnd, results, ref prefetch); break;
            case 2: F16RowTileAvx512.Block<Count2, TFold>(w, stride, tiles, panel, t0, vectorEnd, results, ref prefetch); break;
            default: F16RowTileAvx512.Block<Count1, TFold>(w, stride, tiles, panel, t0, vectorEnd, results, ref prefetch); break;
        }
    }

    private static bool Kernel(int count, ushort* w, in F16ActivationPanel panel, int t0, float* results)
    {
        if (GgmlSimd.Width == 16)
            return count switch
            {
                6 => F16TileAvx512.Tile<Count6>(w, panel, t0, results),
                5 => F16TileAvx512.Tile<Count5>(w, panel, t0, results),
                4 => F16TileAvx512.Tile<Count4>(w, panel, t0, results),
                3 => F16TileAvx512.Tile<Count3>(w, panel, t0, results),
                2 => F16TileAvx512.Tile<Count2>(w, panel, t0, results),
                _ => F16TileAvx512.Tile<Count1>(w, panel, t0, results),
            };
        return count switch
        {
            3 => F16TileAvx2.Tile<Count3>(w, panel, t0, results),
            2 => F16TileAvx2.Tile<Count2>(w, panel, t0, results),
            _ => F16TileAvx2.Tile<Count1>(w, panel, t0, results),
        };
    }
}
