using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Gguf;
using static Tandem.Engine.Quantization.LegacyQuantMath;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Q5_0 rows: blocks of 32 as ggml's <c>block_q5_0</c> (22 bytes): F16 scale <c>d</c>, 4 bytes <c>qh</c> holding
/// the fifth bit of element j at bit j, then 16 bytes of low 4 bits (low nibbles elements 0..15, high nibbles
/// 16..31); value = (q - 16) * d. Dotted with Q8_0 activations.
/// </summary>
public readonly struct RowQ5_0 : IMultiRowDot
{
    public const int BlockBytes = 2 + 4 + 16;

    public static GgmlType Type => GgmlType.Q5_0;
    public static GgmlType DotType => GgmlType.Q8_0;

    /// <summary>ggml's <c>dequantize_row_q5_0</c>.</summary>
    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int nb = BlockCount(dst.Length, src.Length, BlockBytes, "source");
        for (int ib = 0; ib < nb; ib++)
        {
            ReadOnlySpan<byte> block = src.Slice(ib * BlockBytes, BlockBytes);
            Span<float> y = dst.Slice(ib * BlockSize, BlockSize);
            float d = HalfAt(block, 0);
            uint qh = MemoryMarshal.Read<uint>(block[2..]);
            for (int j = 0; j < 16; j++)
            {
                byte q = block[6 + j];
                int h0 = (int)((qh >> j) << 4) & 0x10;
                int h1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = (((q & 0x0F) | h0) - 16) * d;
                y[j + 16] = (((q >> 4) | h1) - 16) * d;
            }
        }
    }

    /// <summary>ggml's reference quantiser <c>quantize_row_q5_0_ref</c> (the value of largest magnitude maps to -16).</summary>
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
            float d = max / -16;
            float id = d != 0f ? 1.0f / d : 0f;
            MemoryMarshal.Write(block, FloatConversions.SingleToHalf(d));
            uint qh = 0;
            for (int j = 0; j < 16; j++)
            {
                float x0 = x[j] * id;
                float x1 = x[j + 16] * id;
                int q0 = Math.Min(31, (int)(x0 + 16.5f));
                int q1 = Math.Min(31, (int)(x1 + 16.5f));
                block[6 + j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
                qh |= (uint)((q0 & 0x10) >> 4) << j;
                qh |= (uint)((q1 & 0x10) >> 4) << (j + 16);
            }
            MemoryMarshal.Write(block[2..], qh);
        }
    }

    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        int nb = BlockCount(n, weights.Length, BlockBytes, "weights");
        BlockCount(n, activations.Length, RowQ8_0.BlockBytes, "activations");
        return UseAvx2 ? DotAvx2(weights, activations, nb) : DotScalar(weights, activations, nb);
    }

    /// <summary>
    /// ggml's AVX2 <c>ggml_vec_dot_q5_0_q8_0</c>: quants become signed bytes as nibble | (bit ? 0 : 0xF0),
    /// i.e. q - 16; then <c>acc = fma(dx*dy, sums, acc)</c> per block.
    /// </summary>
    internal static float DotAvx2(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int nb) =>
        LegacyDot4.Avx2Dot<Q5_0Block>(weights, activations, nb);

    /// <summary>
    /// Four activation rows at once; bit-identical to four <see cref="Dot"/> calls (see <see cref="LegacyDot4"/>).
    /// </summary>
    public static void Dot4(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> a0, ReadOnlySpan<byte> a1,
        ReadOnlySpan<byte> a2, ReadOnlySpan<byte> a3, int n, Span<float> results) =>
        LegacyDot4.Dot4<Q5_0Block>(weights, a0, a1, a2, a3, n, results);

    /// <summary>The AVX2 kernel's <c>qx</c> for one block.</summary>
    internal readonly struct Q5_0Block : ILegacyBlockDecoder
    {
        public static int BlockBytes => RowQ5_0.BlockBytes;

        public static float DotScalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int nb) =>
            RowQ5_0.DotScalar(weights, activations, nb);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<sbyte> Decode(ref byte block) =>
            (BytesFromNibbles(ref Unsafe.Add(ref block, 6)) | Vector256.AndNot(Vector256.Create((byte)0xF0), BytesFromBits(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref block, 2))))).AsSByte();

        /// <summary>Nibble | (fifth bit &lt;&lt; 4), minus 16; bit j of <c>qh</c> belongs to element j.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void DecodePortable(ref byte block, out Vector128<sbyte> low, out Vector128<sbyte> high)
        {
            Vector128<byte> qh = Vector128.Create(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref block, 2))).AsByte();
            Vector128<byte> packed = Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 6));
            // Byte j of each half picks the qh byte holding its bit, then tests that bit.
            Vector128<byte> bit = Vector128.Create((byte)1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
            Vector128<byte> fifthLow = Vector128.Equals(Vector128.Shuffle(qh, Vector128.Create((byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)) & bit, bit);
            Vector128<byte> fifthHigh = Vector128.Equals(Vector128.Shuffle(qh, Vector128.Create((byte)2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)) & bit, bit);
            Vector128<byte> sixteen = Vector128.Create((byte)0x10);
            low = (((packed & Vector128.Create((byte)0x0F)) | (fifthLow & sixteen)) - sixteen).AsSByte();
            high = ((Vector128.ShiftRightLogical(packed, 4) | (fifthHigh & sixteen)) - sixteen).AsSByte();
        }
    }

    /// <summary>Portable form: exact integer block sums, F32 accumulation.</summary>
    internal static float DotScalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int nb)
    {
        float sum = 0f;
        for (int ib = 0; ib < nb; ib++)
        {
            ReadOnlySpan<byte> x = weights.Slice(ib * BlockBytes, BlockBytes);
            ReadOnlySpan<byte> y = activations.Slice(ib * RowQ8_0.BlockBytes, RowQ8_0.BlockBytes);
            uint qh = MemoryMarshal.Read<uint>(x[2..]);
            int sumi = 0;
            for (int j = 0; j < 16; j++)
            {
                int q0 = ((x[6 + j] & 0x0F) | (int)(((qh >> j) << 4) & 0x10)) - 16;
                int q1 = ((x[6 + j] >> 4) | (int)((qh >> (j + 12)) & 0x10)) - 16;
                sumi += q0 * (sbyte)y[2 + j] + q1 * (sbyte)y[2 + j + 16];
            }
            sum += sumi * (HalfAt(x, 0) * HalfAt(y, 0));
        }
        return sum;
    }
}
