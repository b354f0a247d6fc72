using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The micro-kernel of the tiled F16 matmul where ggml has no vector F16 dot to follow (<see cref="GgmlSimd.Width"/> 0:
/// Arm64, x64 without AVX2), with cross-platform <see cref="Vector128"/> operations: 4 weight rows × up to 4 tokens
/// of an <see cref="F16ActivationPanel"/>. The single-pair dot there is <see cref="RowF16.DotScalar"/>, one sum per
/// (row, token) that adds the F32 products element by element in order, which no vector can split into lanes. So
/// the lanes here are four rows instead: the tile's rows are widened once into a transposed block
/// (<see cref="WidenTransposed"/>: element i of the four rows side by side), and each token keeps one accumulator
/// whose lane r is row r's running sum, <c>sum = sum + w[i] * x[i]</c> per element (a multiply, then an add, no FMA,
/// as the scalar dot) in the same order: every lane is bit-identical to the scalar dot, inf and NaN included.
/// Four tokens give four independent chains, which hides the adds' latency.
/// </summary>
internal static unsafe class F16TilePortable
{
    public const int TileRows = 4;
    public const int MaxTokens = 4;

    /// <summary>Floats of one transposed tile of rows of <paramref name="cols"/>.</summary>
    public static int TileFloats(int cols) => TileRows * cols;

    /// <summary>
    /// Writes element i of rows 0..<paramref name="rowCount"/>-1 (F16, <paramref name="rowStride"/> values apart) to
    /// <c>dst[4i + r]</c>, widened exactly as the scalar dot widens them; the lanes of missing rows get zeros.
    /// </summary>
    public static void WidenTransposed(ushort* row, long rowStride, int rowCount, int cols, float* dst)
    {
        for (int r = 0; r < TileRows; r++)
        {
            ushort* src = row + r * rowStride;
            float* d = dst + r;
            if (r < rowCount)
                for (int i = 0; i < cols; i++)
                    d[TileRows * i] = FloatConversions.HalfToSingle(src[i]);
            else
                for (int i = 0; i < cols; i++)
                    d[TileRows * i] = 0;
        }
    }

    /// <summary>
    /// The dots of a transposed tile <paramref name="w"/> with tokens <paramref name="t0"/>.. of the panel, token-major:
    /// row r, token k into <c>results[k * TileRows + r]</c> (4 floats per token).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TTokens>(float* w, int cols, in F16ActivationPanel panel, int t0, float* results)
        where TTokens : ITileCount
    {
        float* y0 = panel.Row(t0);
        float* y1 = TTokens.Count > 1 ? panel.Row(t0 + 1) : y0;
        float* y2 = TTokens.Count > 2 ? panel.Row(t0 + 2) : y0;
        float* y3 = TTokens.Count > 3 ? panel.Row(t0 + 3) : y0;
        Vector128<float> a0 = Vector128<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
        for (nint i = 0; i < cols; i++)
        {
            Vector128<float> x = Vector128.Load(w + TileRows * i);
            a0 += x * Vector128.Create(y0[i]);
            if (TTokens.Count > 1) a1 += x * Vector128.Create(y1[i]);
            if (TTokens.Count > 2) a2 += x * Vector128.Create(y2[i]);
            if (TTokens.Count > 3) a3 += x * Vector128.Create(y3[i]);
        }
        Vector128.Store(a0, results);
        if (TTokens.Count > 1) Vector128.Store(a1, results + TileRows);
        if (TTokens.Count > 2) Vector128.Store(a2, results + 2 * TileRows);
        if (TTokens.Count > 3) Vector128.Store(a3, results + 3 * TileRows);
    }

    /// <summary>
    /// y[t × w.Rows + r] for rows <paramref name="rowBegin"/>..<paramref name="rowEnd"/> and every token of the panel,
    /// in blocks of <see cref="F16WidenedRows.MaxRows"/> rows widened into <paramref name="scratch"/> (at least
    /// <see cref="F16WidenedRows.ScratchFloats"/> floats) once for the whole batch; each group of four tokens then runs
    /// against the block's tiles while its activations are in L1.
    /// </summary>
    [SkipLocalsInit]
    public static void Rows(in WeightMatrix w, in F16ActivationPanel panel, float* y, int rowBegin, int rowEnd, float* scratch)
    {
        float* results = stackalloc float[TileRows * MaxTokens];
        int rows = w.Rows, tokens = panel.Tokens, cols = panel.Cols, tileFloats = TileFloats(cols);
        for (int b0 = rowBegin; b0 < rowEnd; b0 += F16WidenedRows.MaxRows)
        {
            int blockRows = Math.Min(F16WidenedRows.MaxRows, rowEnd - b0);
            for (int r0 = 0; r0 < blockRows; r0 += TileRows)
                WidenTransposed((ushort*)(w.Data + (b0 + r0) * w.RowBytes), w.RowBytes / sizeof(ushort),
                    Math.Min(TileRows, blockRows - r0), cols, scratch + r0 / TileRows * tileFloats);
            for (int t = 0; t < tokens; t += MaxTokens)
            {
                int count = Math.Min(MaxTokens, tokens - t);
                for (int r0 = 0; r0 < blockRows; r0 += TileRows)
                {
                    float* tile = scratch + r0 / TileRows * tileFloats;
                    switch (count)
                    {
                        case 4: Tile<Count4>(tile, cols, panel, t, results); break;
                        case 3: Tile<Count3>(tile, cols, panel, t, results); break;
                        case 2: Tile<Count2>(tile, cols, panel, t, results); break;
                        default: Tile<Count1>(tile, cols, panel, t, results); break;
                    }
                    int rowCount = Math.Min(TileRows, blockRows - r0);
                    for (int k = 0; k < count; k++)
                    {
                        float* dst = y + (long)(t + k) * rows + b0 + r0;
                        for (int r = 0; r < rowCount; r++)
                            dst[r] = results[k * TileRows + r];
                    }
                }
            }
        }
    }
}
