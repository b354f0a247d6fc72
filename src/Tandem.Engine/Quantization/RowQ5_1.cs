using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Gguf;
using static Tandem.Engine.Quantization.LegacyQuantMath;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Q5_1 rows: blocks of 32 as ggml's <c>block_q5_1</c> (24 bytes): F16 scale <c>d</c>, F16 minimum <c>m</c>,
/// 4 bytes <c>qh</c> (fifth bit of element j at bit j), then 16 bytes of low 4 bits (low nibbles elements
/// 0..15, high nibbles 16..31); value = q * d + m. Dotted with Q8_1 activations.
/// </summary>
public readonly struct RowQ5_1 : IRowType
{
    public const int BlockBytes = 2 + 2 + 4 + 16;

    public static GgmlType Type => GgmlType.Q5_1;
    public static GgmlType DotType => GgmlType.Q8_1;

    /// <summary>ggml's <c>dequantize_row_q5_1</c> (q * d + m, unfused as ggml compiles it).</summary>
    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int nb = BlockCount(dst.Length, src.Length, BlockBytes, "source");
        for (int ib = 0; ib < nb; ib++)
        {
            ReadOnlySpan<byte> block = src.Slice(ib * BlockBytes, BlockBytes);
            Span<float> y = dst.Slice(ib * BlockSize, BlockSize);
            float d = HalfAt(block, 0);
            float m = HalfAt(block, 2);
            uint qh = MemoryMarshal.Read<uint>(block[4..]);
            for (int j = 0; j < 16; j++)
            {
                byte q = block[8 + j];
                int h0 = (int)((qh >> j) << 4) & 0x10;
                int h1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = ((q & 0x0F) | h0) * d + m;
                y[j + 16] = ((q >> 4) | h1) * d + m;
            }
        }
    }

    /// <summary>ggml's reference quantiser <c>quantize_row_q5_1_ref</c> (min/max over the block, 31 steps).</summary>
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
            float d = (max - min) / 31;
            float id = d != 0f ? 1.0f / d : 0f;
            MemoryMarshal.Write(block, FloatConversions.SingleToHalf(d));
            MemoryMarshal.Write(block[2..], FloatConversions.SingleToHalf(min));
            uint qh = 0;
            for (int j = 0; j < 16; j++)
            {
                float x0 = (x[j] - min) * id;
                float x1 = (x[j + 16] - min) * id;
                // ggml: (uint8_t)(x + 0.5f), no clamp; (max - min) * id never rounds past 31.5.
                int q0 = (int)(x0 + 0.5f);
                int q1 = (int)(x1 + 0.5f);
                block[8 + j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
                qh |= (uint)((q0 & 0x10) >> 4) << j;
                qh |= (uint)((q1 & 0x10) >> 4) << (j + 16);
            }
            MemoryMarshal.Write(block[4..], qh);
        }
    }

    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        int nb = BlockCount(n, weights.Length, BlockBytes, "weights");
        BlockCount(n, activations.Length, ActivationQ8_1.BlockBytes, "activations");
        return UseAvx2 ? DotAvx2(weights, activations, nb) : DotScalar(weights, activations, nb);
    }

    /// <summary>
    /// ggml's AVX2 <c>ggml_vec_dot_q5_1_q8_1</c>: unsigned quants nibble | (bit ? 0x10 : 0),
    /// <c>acc = fma(sums, dx*dy, acc)</c> per block, plus <c>summs += m * s</c> added at the end.
    /// </summary>
    internal static float DotAvx2(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int nb)
    {
        ref byte x = ref MemoryMarshal.GetReference(weights);
        ref byte y = ref MemoryMarshal.GetReference(activations);
        Vector256<float> acc = Vector256<float>.Zero;
        Vector256<byte> bit4 = Vector256.Create((byte)0x10);
        float summs = 0f;
        for (int ib = 0; ib < nb; ib++)
        {
            summs += ReadHalf(ref x, 2) * ReadHalf(ref y, 2);
            float d = ReadHalf(ref x, 0) * ReadHalf(ref y, 0);
            Vector256<byte> high = BytesFromBits(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref x, 4))) & bit4;
            Vector256<byte> qx = BytesFromNibbles(ref Unsafe.Add(ref x, 8)) | high;
            Vector256<sbyte> qy = Vector256.LoadUnsafe(ref Unsafe.Add(ref y, 4)).AsSByte();
            acc = Vector256.FusedMultiplyAdd(MulSumUs8Pairs(qx, qy), Vector256.Create(d), acc);
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
            uint qh = MemoryMarshal.Read<uint>(x[4..]);
            int sumi = 0;
            for (int j = 0; j < 16; j++)
            {
                int q0 = (x[8 + j] & 0x0F) | (int)(((qh >> j) << 4) & 0x10);
                int q1 = (x[8 + j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
                sumi += q0 * (sbyte)y[4 + j] + q1 * (sbyte)y[4 + j + 16];
            }
            sum += sumi * (HalfAt(x, 0) * HalfAt(y, 0));
            summs += HalfAt(x, 2) * HalfAt(y, 2);
        }
        return sum + summs;
    }
}
