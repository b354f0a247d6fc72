using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Gguf;
using static Tandem.Engine.Quantization.LegacyQuantMath;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Q4_0 rows: blocks of 32 weights as ggml's <c>block_q4_0</c> (18 bytes): F16 scale <c>d</c>, then 16 bytes of
/// 4-bit quants whose low nibbles are elements 0..15 and high nibbles elements 16..31; value = (q - 8) * d.
/// Dotted with Q8_0 activations.
/// </summary>
public readonly struct RowQ4_0 : IMultiRowDot
{
    public const int BlockBytes = 2 + 16;

    public static GgmlType Type => GgmlType.Q4_0;
    public static GgmlType DotType => GgmlType.Q8_0;

    /// <summary>ggml's <c>dequantize_row_q4_0</c>.</summary>
    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int nb = BlockCount(dst.Length, src.Length, BlockBytes, "source");
        for (int ib = 0; ib < nb; ib++)
        {
            ReadOnlySpan<byte> block = src.Slice(ib * BlockBytes, BlockBytes);
            Span<float> y = dst.Slice(ib * BlockSize, BlockSize);
            float d = HalfAt(block, 0);
            for (int j = 0; j < 16; j++)
            {
                byte q = block[2 + j];
                y[j] = ((q & 0x0F) - 8) * d;
                y[j + 16] = ((q >> 4) - 8) * d;
            }
        }
    }

    /// <summary>ggml's reference quantiser <c>quantize_row_q4_0_ref</c> (the value of largest magnitude maps to -8).</summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        int nb = BlockCount(src, dst.Length, BlockBytes);
        for (int ib = 0; ib < nb; ib++)
        {
            ReadOnlySpan<float> x = src.Slice(ib * BlockSize, BlockSize);
            Span<byte> block = dst.Slice(ib * BlockBytes, BlockBytes);
            float amax = 0f, max = 0f;
            foreach (float v in x)
            {
                if (amax < MathF.Abs(v))
                {
                    amax = MathF.Abs(v);
                    max = v;
                }
            }
            float d = max / -8;
            float id = d != 0f ? 1.0f / d : 0f;
            MemoryMarshal.Write(block, FloatConversions.SingleToHalf(d));
            for (int j = 0; j < 16; j++)
            {
                // (int8_t)(x + 8.5f) truncates toward zero; the argument is >= 0 here, so (int) is the same.
                int q0 = Math.Min(15, (int)(x[j] * id + 8.5f));
                int q1 = Math.Min(15, (int)(x[j + 16] * id + 8.5f));
                block[2 + j] = (byte)(q0 | (q1 << 4));
            }
        }
    }

    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        int nb = BlockCount(n, weights.Length, BlockBytes, "weights");
        BlockCount(n, activations.Length, RowQ8_0.BlockBytes, "activations");
        return UseAvx2 ? DotAvx2(weights, activations, nb) : DotScalar(weights, activations, nb);
    }

    /// <summary>ggml's AVX2 <c>ggml_vec_dot_q4_0_q8_0</c>: one 8-lane accumulator, <c>acc = fma(dx*dy, sums, acc)</c> per block.</summary>
    internal static float DotAvx2(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int nb) =>
        LegacyDot4.Avx2Dot<Q4_0Block>(weights, activations, nb);

    /// <summary>
    /// Four activation rows at once; bit-identical to four <see cref="Dot"/> calls (see <see cref="LegacyDot4"/>).
    /// </summary>
    public static void Dot4(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> a0, ReadOnlySpan<byte> a1,
        ReadOnlySpan<byte> a2, ReadOnlySpan<byte> a3, int n, Span<float> results) =>
        LegacyDot4.Dot4<Q4_0Block>(weights, a0, a1, a2, a3, n, results);

    /// <summary>The AVX2 kernel's <c>qx</c> for one block.</summary>
    internal readonly struct Q4_0Block : ILegacyBlockDecoder
    {
        public static int BlockBytes => RowQ4_0.BlockBytes;

        public static float DotScalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int nb) =>
            RowQ4_0.DotScalar(weights, activations, nb);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<sbyte> Decode(ref byte block) =>
            (BytesFromNibbles(ref Unsafe.Add(ref block, 2)) - Vector256.Create((byte)8)).AsSByte();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void DecodePortable(ref byte block, out Vector128<sbyte> low, out Vector128<sbyte> high)
        {
            Vector128<byte> packed = Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 2));
            low = ((packed & Vector128.Create((byte)0x0F)) - Vector128.Create((byte)8)).AsSByte();
            high = (Vector128.ShiftRightLogical(packed, 4) - Vector128.Create((byte)8)).AsSByte();
        }
    }

    /// <summary>Portable form of the dot product (ggml's generic one): exact integer block sums, F32 accumulation.</summary>
    internal static float DotScalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int nb)
    {
        float sum = 0f;
        for (int ib = 0; ib < nb; ib++)
        {
            ReadOnlySpan<byte> x = weights.Slice(ib * BlockBytes, BlockBytes);
            ReadOnlySpan<byte> y = activations.Slice(ib * RowQ8_0.BlockBytes, RowQ8_0.BlockBytes);
            int sumi = 0;
            for (int j = 0; j < 16; j++)
            {
                sumi += ((x[2 + j] & 0x0F) - 8) * (sbyte)y[2 + j];
                sumi += ((x[2 + j] >> 4) - 8) * (sbyte)y[2 + j + 16];
            }
            sum += sumi * (HalfAt(x, 0) * HalfAt(y, 0));
        }
        return sum;
    }
}
