using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Kernels;

/// <summary>
/// The loop around a register-tiled micro-kernel (<see cref="ITileKernel{TPanel}"/>): output rows in tiles of
/// four, tokens in pairs from a panel, passes of 64 tokens so a pass's activations stay in L2 while a job's
/// tiles run against them, and the results scattered into y. Ragged edges reuse the last row (the kernel is
/// given it again) and the panel's duplicated odd token; the duplicate results are dropped. Since every
/// kernel result is bit-identical to the single-pair dot, no (row, token) result depends on the tiling.
/// </summary>
internal static unsafe class RowTiles
{
    public const int TileRows = 4;

    /// <summary>Tokens per row of a kernel's result block (four pairs).</summary>
    private const int ResultStride = 8;

    /// <summary>Token pairs per pass over a job's row tiles: 64 tokens (about 100 KB of Q8_0 at 1536 columns).</summary>
    private const int PairsPerPass = 32;

    /// <summary>Row tiles of <paramref name="rows"/> rows: a tiled job's item count.</summary>
    public static int Count(int rows) => (rows + TileRows - 1) / TileRows;

    /// <summary>
    /// y[t × w.Rows + r] for the rows of tiles <paramref name="tileBegin"/>..<paramref name="tileEnd"/> (tile i holds
    /// rows 4i..4i+3) and every token of <paramref name="panel"/>.
    /// </summary>
    public static void Run<TKernel, TPanel>(in WeightMatrix w, in TPanel panel, float* y, int tileBegin, int tileEnd)
        where TKernel : ITileKernel<TPanel>
        where TPanel : struct, IActivationPanel
    {
        float* results = stackalloc float[TileRows * ResultStride];
        int rows = w.Rows, tokens = panel.Tokens, pairs = (tokens + 1) / 2;
        long rowBytes = w.RowBytes;
        for (int passBegin = 0; passBegin < pairs; passBegin += PairsPerPass)
        {
            int passEnd = Math.Min(pairs, passBegin + PairsPerPass);
            for (int tile = tileBegin; tile < tileEnd; tile++)
            {
                int r0 = tile * TileRows;
                int rowCount = Math.Min(TileRows, rows - r0);
                byte* w0 = w.Data + r0 * rowBytes;
                byte* w1 = rowCount > 1 ? w0 + rowBytes : w0;
                byte* w2 = rowCount > 2 ? w0 + 2 * rowBytes : w1;
                byte* w3 = rowCount > 3 ? w0 + 3 * rowBytes : w2;
                if (tile + 1 < tileEnd) Prefetch(w0 + TileRows * rowBytes, TileRows * rowBytes);
                for (int p = passBegin; p < passEnd; p += TKernel.MaxPairs)
                {
                    int pairCount = Math.Min(TKernel.MaxPairs, passEnd - p);
                    TKernel.Run(pairCount, w0, w1, w2, w3, panel, p, results);
                    int t0 = 2 * p, tokenCount = Math.Min(2 * pairCount, tokens - t0);
                    for (int k = 0; k < tokenCount; k++)
                    {
                        float* dst = y + (long)(t0 + k) * rows + r0;
                        for (int r = 0; r < rowCount; r++)
                            dst[r] = results[r * ResultStride + k];
                    }
                }
            }
        }
    }

    /// <summary>
    /// Asks for the next tile's rows while this one runs. A tile reads its four rows side by side, four streams
    /// of a few hundred bytes that end before the hardware prefetcher has learnt them: single-token decode
    /// (bound by weight reads) ran at a third of the bandwidth of the row-by-row kernel without this.
    /// </summary>
    internal static void Prefetch(byte* start, long bytes)
    {
        if (!Sse.IsSupported) return;
        for (long offset = 0; offset < bytes; offset += 64)
            Sse.Prefetch0(start + offset);
    }
}
