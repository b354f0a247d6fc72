using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// A block of up to <see cref="MaxRows"/> F16 weight rows widened to F32 in a caller's scratch buffer, for the
/// row-tile kernels of the tiled F16 matmul (<see cref="F16RowTileAvx512"/>, <see cref="F16RowTileAvx2"/>): a block is
/// widened once for every token of the batch, so the kernels spend their instructions on FMAs instead of re-widening
/// every weight vector for every group of tokens (the widening was half of the single-row kernel's instructions, and
/// about a quarter as many instructions as the FMAs when rows were widened again for every 64 tokens). Only the
/// part that <see cref="GgmlFloatDot.VecDotF16"/> sums in vectors is widened; its scalar tail is read as F16 by
/// <see cref="GgmlFloatDot.FinishWidened"/>. The widening is <see cref="GgmlFloatDot.Half8"/>'s, exact for every
/// finite value; a row whose vector part holds an F16 inf/NaN is flagged, and its dots are redone as plain sums.
/// </summary>
internal static unsafe class F16WidenedRows
{
    /// <summary>
    /// Rows per block: 16 rows are 36 KB widened at 576 columns, 96 KB at 1536 (L2), and one 64-byte line of y per
    /// token; the tiles of a block run against the same six tokens, which stay in L1 meanwhile.
    /// </summary>
    public const int MaxRows = 16;

    /// <summary>Floats from one widened row to the next for rows of <paramref name="cols"/> (64-byte aligned rows).</summary>
    public static int Stride(int cols) => (cols + 15) & ~15;

    /// <summary>Floats a scratch buffer needs for a block of rows of <paramref name="cols"/>.</summary>
    public static int ScratchFloats(int cols) => MaxRows * Stride(cols);

    /// <summary>
    /// Widens elements 0..<paramref name="vectorEnd"/> (a multiple of 8; of 16 where ggml's width is 16) of
    /// <paramref name="row"/> into <paramref name="dst"/>; returns whether any of them is an F16 inf or NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool Widen(ushort* row, int vectorEnd, float* dst)
    {
        ref ushort r = ref *row;
        if (GgmlSimd.Width == 16)
        {
            // The same exact widening, 16 values per instruction sequence instead of 8.
            Vector512<uint> wide = default;
            for (int i = 0; i < vectorEnd; i += 16)
                Vector512.Store(GgmlFloatDot.Half16(ref r, i, ref wide), dst + i);
            return Vector512.GreaterThanOrEqualAny(wide, Vector512.Create(0x7C00u));
        }
        Vector256<uint> magnitude = default;
        for (int i = 0; i < vectorEnd; i += 8)
            Vector256.Store(GgmlFloatDot.Half8(ref r, i, ref magnitude), dst + i);
        return Vector256.GreaterThanOrEqualAny(magnitude, Vector256.Create(0x7C00u));
    }
}
