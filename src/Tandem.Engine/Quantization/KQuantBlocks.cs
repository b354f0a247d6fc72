using System.Runtime.CompilerServices;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Geometry and small numeric helpers shared by the K-quant row types (ggml's QK_K = 256 super-blocks).
/// Byte layouts are exactly ggml's (ggml-common.h):
/// <list type="bullet">
/// <item>block_q4_K (144 B): fp16 d @0, fp16 dmin @2, scales[12] @4, qs[128] @16</item>
/// <item>block_q5_K (176 B): fp16 d @0, fp16 dmin @2, scales[12] @4, qh[32] @16, qs[128] @48</item>
/// <item>block_q6_K (210 B): ql[128] @0, qh[64] @128, int8 scales[16] @192, fp16 d @208</item>
/// <item>block_q8_K (292 B): float d @0, int8 qs[256] @4, int16 bsums[16] @260</item>
/// </list>
/// </summary>
internal static class KQuantBlocks
{
    public const int QK = 256;

    public const int Q4KBytes = 144;
    public const int Q5KBytes = 176;
    public const int Q6KBytes = 210;
    public const int Q8KBytes = 292;

    public const int Q8KQsOffset = 4;
    public const int Q8KBsumsOffset = 260;

    /// <summary>ggml's GROUP_MAX_EPS: below this a group counts as all zero.</summary>
    public const float GroupMaxEps = 1e-15f;

    /// <summary>
    /// Exact fp16 → fp32 (same values as (float)Half), branch-light for the dot kernels' per-block scales:
    /// the exponent/mantissa bits shifted into float position and rescaled by 2^112 are exact for normal and
    /// subnormal halves; infinities and NaNs keep an all-ones exponent.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HalfToFloat(ushort bits)
    {
        uint em = bits & 0x7fffu;
        float magnitude = BitConverter.UInt32BitsToSingle(em << 13) * BitConverter.UInt32BitsToSingle(0x77800000); // 2^112
        uint f = em >= 0x7c00u ? (em << 13) | 0x7f800000u : BitConverter.SingleToUInt32Bits(magnitude);
        return BitConverter.UInt32BitsToSingle(f | ((bits & 0x8000u) << 16));
    }

    /// <summary>Round-to-nearest-even, as GGML_FP32_TO_FP16 (F16C or its software twin).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FloatToHalf(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ReadHalf(ReadOnlySpan<byte> src, int offset) =>
        HalfToFloat(Unsafe.ReadUnaligned<ushort>(ref Unsafe.AsRef(in src[offset])));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteHalf(Span<byte> dst, int offset, float value) =>
        Unsafe.WriteUnaligned(ref dst[offset], FloatToHalf(value));

    /// <summary>
    /// ggml's nearest_int, bit for bit: adding 1.5·2^23 leaves the rounded integer in the mantissa
    /// (round half to even). Only meaningful for |f| &lt;= 4194303, as in ggml.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NearestInt(float f)
    {
        float v = f + 12582912f;
        return (BitConverter.SingleToInt32Bits(v) & 0x007fffff) - 0x00400000;
    }

    /// <summary>Checks that a row of <paramref name="n"/> elements is a whole number of super-blocks.</summary>
    public static int BlockCount(int n)
    {
        if (n % QK != 0)
            throw new ArgumentException($"row length {n} is not a multiple of {QK}", nameof(n));
        return n / QK;
    }
}
