using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tandem.Engine.Quantization;

/// <summary>SIMD helpers for the K-quant dot kernels.</summary>
internal static class KQuantSimd
{
    /// <summary>
    /// pshufb masks that broadcast 16-bit element k of a 128-bit lane across the lane (ggml's get_scale_shuffle_k4),
    /// so per-sub-block scales are spread without leaving the vector unit.
    /// </summary>
    private static ReadOnlySpan<byte> ScaleShuffleK4 =>
    [
        0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
        2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3,
        4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5,
        6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7,
        8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9,
        10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11,
        12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13,
        14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15,
    ];

    /// <summary>Scale k (0..7) of eight 16-bit scales held in both lanes of <paramref name="scales"/>, in every element.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> BroadcastScale(Vector256<short> scales, int k) =>
        Avx2.Shuffle(scales.AsByte(), Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(ScaleShuffleK4), (nuint)(32 * k))).AsInt16();

    /// <summary>
    /// The end of a Q4_K/Q5_K dot on the AVX2 kernel's accumulators: <see cref="HorizontalSum"/> of the 8-lane sums plus
    /// the 4-lane mins term reduced as ggml reduces it, (0 + 2) + (1 + 3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float FinishWithMins(Vector256<float> acc, Vector128<float> accM)
    {
        accM = Sse.Add(accM, Sse.MoveHighToLow(accM, accM));
        accM = Sse.AddScalar(accM, Sse3.MoveHighAndDuplicate(accM));
        return HorizontalSum(acc) + accM.ToScalar();
    }

    /// <summary>ggml's hsum_float_8, same addition order (upper+lower halves, then pairs, then the last two).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalSum(Vector256<float> x)
    {
        Vector128<float> res = Sse.Add(x.GetUpper(), x.GetLower());
        res = Sse.Add(res, Sse.MoveHighToLow(res, res));
        res = Sse.AddScalar(res, Sse3.MoveHighAndDuplicate(res));
        return res.ToScalar();
    }
}
