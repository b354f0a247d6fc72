using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Gguf;
using static Tandem.Engine.Quantization.LegacyQuantMath;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Q4_1 rows: blocks of 32 as ggml's <c>block_q4_1</c> (20 bytes): F16 scale <c>d</c>, F16 minimum <c>m</c>, then
/// 16 bytes of 4-bit quants (low nibbles elements 0..15, high nibbles 16..31); value = q * d + m.
/// Dotted with Q8_1 activations.
/// </summary>
public readonly struct RowQ4_1 : IRowType
{
    public const int BlockBytes = 2 + 2 + 16;

    public static GgmlType Type => GgmlType.Q4_1;
    public static GgmlType DotType => GgmlType.Q8_1;

    /// <summary>ggml's <c>dequantize_row_q4_1</c> (q * d + m, unfused as ggml compiles it).</summary>
    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int nb = BlockCount(dst.Length, src.Length, BlockBytes, "source");
        for (int ib = 0; ib < nb; ib++)
        {
            ReadOnlySpan<byte> block = src.Slice(ib * BlockBytes, BlockBytes);
            Span<float> y = dst.Slice(ib * BlockSize, BlockSize);
            float d = HalfAt(block, 0);
            float m = HalfAt(block, 2);
            for (int j = 0; j < 16; j++)
            {
                byte q = block[4 + j];
                y[j] = (q & 0x0F) * d + m;
                y[j + 16] = (q >> 4) * d + m;
            }
        }
    }

    /// <summary>ggml's reference quantiser <c>quantize_row_q4_1_ref</c> (min/max over the block, 15 steps).</summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        int nb = BlockCount(src, dst.Length, BlockBytes);
        for (int ib = 0; ib < nb; ib++)
        {
            ReadOnlySpan<float> x = src.Slice(ib * BlockSize, BlockSize);
            Span<byte> block = dst.Slice(ib * BlockBytes, BlockBytes);
            float min = float.MaxValue, max = -float.MaxValue;
            foreach (float v in x)
            {
                if (v < min) min = v;
                if (v > max) max = v;
            }
            float d = (max - min) / 15;
            float id = d != 0f ? 1.0f / d : 0f;
            MemoryMarshal.Write(block, FloatConversions.SingleToHalf(d));
            MemoryMarshal.Write(block[2..], FloatConversions.SingleToHalf(min));
            for (int j = 0; j < 16; j++)
            {
                float x0 = (x[j] - min) * id;
                float x1 = (x[j + 16] - min) * id;
                int q0 = Math.Min(15, (int)(x0 + 0.5f));
                int q1 = Math.Min(15, (int)(x1 + 0.5f));
                block[4 + j] = (byte)(q0 | (q1 << 4));
            }
        }
    }

    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        int nb = BlockCount(n, weights.Length, BlockBytes, "weights");
        BlockCount(n, activations.Length, ActivationQ8_1.BlockBytes, "activations");
        return UseAvx2 ? DotAvx2(weights, activations, nb) : DotScalar(weights, activations, nb);
    }

    /// <summary>
    /// ggml's AVX2 <c>ggml_vec_dot_q4_1_q8_1</c>: <c>acc = fma(dx*dy, sums, acc)</c> per block over the unsigned
    /// quants, plus <c>summs += m * s</c> (the minimum times the activation block's d * sum), added at the end.
    /// </summary>
    internal static float DotAvx2(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int nb)
    {
        ref byte x = ref MemoryMarshal.GetReference(weights);
        ref byte y = ref MemoryMarshal.GetReference(activations);
        Vector256<float> acc = Vector256<float>.Zero;
        float summs = 0f;
        for (int ib = 0; ib < nb; ib++)
        {
            summs += ReadHalf(ref x, 2) * ReadHalf(ref y, 2);
            float d = ReadHalf(ref x, 0) * ReadHalf(ref y, 0);
            Vector256<byte> qx = BytesFromNibbles(ref Unsafe.Add(ref x, 4));
            Vector256<sbyte> qy = Vector256.LoadUnsafe(ref Unsafe.Add(ref y, 4)).AsSByte();
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(d), MulSumUs8Pairs(qx, qy), acc);
            x = ref Unsafe.Add(ref x, BlockBytes);
            y = ref Unsafe.Add(ref y, ActivationQ8_1.BlockBytes);
        }
        return HorizontalSum(acc) + summs;
    }

    /// <summary>Portable form: exact integer block sums, F32 accumulation, same minimum term.</summary>
    internal static float DotScalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int nb)
    {
        float sum = 0f, summs = 0f;
        for (int ib = 0; ib < nb; ib++)
        {
            ReadOnlySpan<byte> x = weights.Slice(ib * BlockBytes, BlockBytes);
            ReadOnlySpan<byte> y = activations.Slice(ib * ActivationQ8_1.BlockBytes, ActivationQ8_1.BlockBytes);
            int sumi = 0;
            for (int j = 0; j < 16; j++)
            {
                sumi += (x[4 + j] & 0x0F) * (sbyte)y[4 + j];
                sumi += (x[4 + j] >> 4) * (sbyte)y[4 + j + 16];
            }
            sum += sumi * (HalfAt(x, 0) * HalfAt(y, 0));
            summs += HalfAt(x, 2) * HalfAt(y, 2);
        }
        return sum + summs;
    }
}
