using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Up to four F16 weight rows widened to F32 in a caller's scratch buffer, for the row-tile kernels of the tiled
/// F16 matmul (<see cref="F16RowTileAvx512"/>, <see cref="F16RowTileAvx2"/>): a row tile is widened once per pass
/// over a block of tokens, so the kernels spend their instructions on FMAs instead of re-widening every weight
/// vector for every group of tokens (the widening was half of the single-row kernel's instructions). Only the
/// part that <see cref="GgmlFloatDot.VecDotF16"/> sums in vectors is widened; its scalar tail is read as F16 by
/// <see cref="GgmlFloatDot.FinishWidened"/>. The widening is <see cref="GgmlFloatDot.Half8"/>'s, exact for every
/// finite value; a row whose vector part holds an F16 inf/NaN is flagged, and its dots are redone as plain sums.
/// </summary>
internal static unsafe class F16WidenedRows
{
    public const int MaxRows = 4;

    /// <summary>Floats from one widened row to the next for rows of <paramref name="cols"/> (64-byte aligned rows).</summary>
    public static int Stride(int cols) => (cols + 15) & ~15;

    /// <summary>Floats a scratch buffer needs for a tile of rows of <paramref name="cols"/>.</summary>
    public static int ScratchFloats(int cols) => MaxRows * Stride(cols);

    /// <summary>
    /// Widens elements 0..<paramref name="vectorEnd"/> (a multiple of 8) of <paramref name="row"/> into
    /// <paramref name="dst"/>; returns whether any of them is an F16 inf or NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool Widen(ushort* row, int vectorEnd, float* dst)
    {
        Vector256<uint> magnitude = default;
        ref ushort r = ref *row;
        for (int i = 0; i < vectorEnd; i += 8)
            Vector256.Store(GgmlFloatDot.Half8(ref r, i, ref magnitude), dst + i);
        return Vector256.GreaterThanOrEqualAny(magnitude, Vector256.Create(0x7C00u));
    }
}
