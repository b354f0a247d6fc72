using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Gguf;
using static Tandem.Engine.Quantization.KQuantBlocks;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Q5_K: like Q4_K with a fifth bit per quant in qh (bit 2j / 2j+1 of qh[l] for the low / high nibbles of
/// the j-th 64-element group): x = d·sc·q − dmin·m with q in 0..31.
/// </summary>
public readonly struct RowQ5_K : IRowType
{
    public static GgmlType Type => GgmlType.Q5_K;
    public static GgmlType DotType => GgmlType.Q8_K;

    /// <summary>ggml's dequantize_row_q5_K, same float operations.</summary>
    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int nb = BlockCount(dst.Length);
        for (int i = 0; i < nb; i++)
        {
            ReadOnlySpan<byte> b = src.Slice(i * Q5KBytes, Q5KBytes);
            float d = ReadHalf(b, 0);
            float min = ReadHalf(b, 2);
            ReadOnlySpan<byte> scales = b.Slice(4, 12);
            ReadOnlySpan<byte> qh = b.Slice(16, 32);
            ReadOnlySpan<byte> ql = b.Slice(48, 128);
            Span<float> y = dst.Slice(i * QK, QK);
            int u1 = 1, u2 = 2;
            for (int j = 0, s = 0; j < 4; j++, s += 2, u1 <<= 2, u2 <<= 2)
            {
                KQuantScales.GetScaleMin(s, scales, out byte sc, out byte m);
                float d1 = d * sc, m1 = min * m;
                KQuantScales.GetScaleMin(s + 1, scales, out sc, out m);
                float d2 = d * sc, m2 = min * m;
                ReadOnlySpan<byte> qj = ql.Slice(32 * j, 32);
                Span<float> yj = y.Slice(64 * j, 64);
                for (int l = 0; l < 32; l++) yj[l] = d1 * ((qj[l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0)) - m1;
                for (int l = 0; l < 32; l++) yj[32 + l] = d2 * ((qj[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - m2;
            }
        }
    }

    /// <summary>ggml's quantize_row_q5_K_ref, ported operation for operation.</summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        int nb = BlockCount(src.Length);
        Span<byte> l = stackalloc byte[QK];
        Span<byte> laux = stackalloc byte[32];
        Span<float> weights = stackalloc float[32];
        Span<float> mins = stackalloc float[8];
        Span<float> scales = stackalloc float[8];
        Span<byte> ls = stackalloc byte[8];
        Span<byte> lm = stackalloc byte[8];

        for (int i = 0; i < nb; i++)
        {
            ReadOnlySpan<float> x = src.Slice(i * QK, QK);
            Span<byte> b = dst.Slice(i * Q5KBytes, Q5KBytes);
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < 8; j++)
            {
                ReadOnlySpan<float> xj = x.Slice(32 * j, 32);
                float sumX2 = 0;
                for (int k = 0; k < 32; k++) sumX2 += xj[k] * xj[k];
                float avX = MathF.Sqrt(sumX2 / 32);
                for (int k = 0; k < 32; k++) weights[k] = avX + MathF.Abs(xj[k]);
                scales[j] = KQuantSearch.MakeQkx2Quants(31, xj, weights, l.Slice(32 * j, 32), out mins[j], laux, -0.5f, 0.1f, 15, false);
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }

            float invScale = maxScale > 0 ? 63f / maxScale : 0f;
            float invMin = maxMin > 0 ? 63f / maxMin : 0f;
            for (int j = 0; j < 8; j++)
            {
                ls[j] = Math.Min((byte)63, (byte)NearestInt(invScale * scales[j]));
                lm[j] = Math.Min((byte)63, (byte)NearestInt(invMin * mins[j]));
            }
            Span<byte> packed = b.Slice(4, 12);
            KQuantScales.Pack(ls, lm, packed);
            WriteHalf(b, 0, maxScale / 63f);
            WriteHalf(b, 2, maxMin / 63f);

            float dAll = ReadHalf(b, 0), dminAll = ReadHalf(b, 2);
            for (int j = 0; j < 8; j++)
            {
                KQuantScales.GetScaleMin(j, packed, out byte sc, out byte m);
                float d = dAll * sc;
                if (d == 0) continue;
                float dm = dminAll * m;
                for (int k = 0; k < 32; k++)
                {
                    int q = NearestInt((x[32 * j + k] + dm) / d);
                    l[32 * j + k] = (byte)Math.Max(0, Math.Min(31, q));
                }
            }

            Span<byte> qh = b.Slice(16, 32);
            Span<byte> ql = b.Slice(48, 128);
            qh.Clear();
            byte m1 = 1, m2 = 2;
            for (int g = 0; g < 4; g++, m1 <<= 2, m2 <<= 2)
            {
                for (int k = 0; k < 32; k++)
                {
                    int l1 = l[64 * g + k];
                    if (l1 > 15) { l1 -= 16; qh[k] |= m1; }
                    int l2 = l[64 * g + k + 32];
                    if (l2 > 15) { l2 -= 16; qh[k] |= m2; }
                    ql[32 * g + k] = (byte)(l1 | (l2 << 4));
                }
            }
        }
    }

    /// <summary>
    /// Dot product with a Q8_K row. On AVX2 this follows ggml's AVX2 ggml_vec_dot_q5_K_q8_K step for step
    /// (including the scalar min term, which GCC contracts to an FMA there); elsewhere the generic kernel's results (<see cref="Fallback"/>).
    /// </summary>
    public static unsafe float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        int nb = BlockCount(n);
        if (weights.Length < nb * Q5KBytes || activations.Length < nb * Q8KBytes)
            throw new ArgumentException("row spans are shorter than n elements");
        fixed (byte* x = weights)
        fixed (byte* y = activations)
        {
            if (Avx2.IsSupported && Fma.IsSupported)
                return DotAvx2(x, y, nb);
        }
        return Fallback(weights, activations, n);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float DotAvx2(byte* x, byte* y, int nb)
    {
        Vector256<byte> m4 = Vector256.Create((byte)0xF);
        Vector256<byte> two = Vector256.Create((byte)2);
        Vector256<float> acc = Vector256<float>.Zero;
        float summs = 0f;

        for (int i = 0; i < nb; i++, x += Q5KBytes, y += Q8KBytes)
        {
            float yd = Unsafe.ReadUnaligned<float>(y);
            float d = yd * HalfToFloat(Unsafe.ReadUnaligned<ushort>(x));
            float dmin = -yd * HalfToFloat(Unsafe.ReadUnaligned<ushort>(x + 2));

            var (s0, s1, mn0, mn1) = KQuantScales.Unpack(x + 4);
            Vector256<short> minsAndScales = Avx2.ConvertToVector256Int16(Vector128.Create(s0, s1, mn0, mn1).AsByte());

            Vector256<short> bsums = Avx.LoadVector256((short*)(y + Q8KBsumsOffset));
            Vector128<short> q8s = Ssse3.HorizontalAdd(bsums.GetLower(), bsums.GetUpper());
            Vector128<int> prod = Sse2.MultiplyAddAdjacent(minsAndScales.GetUpper(), q8s);
            int minSum = (prod.GetElement(0) + prod.GetElement(1)) + (prod.GetElement(2) + prod.GetElement(3));
            summs = MathF.FusedMultiplyAdd(dmin, minSum, summs);

            Vector256<short> scales = Vector256.Create(minsAndScales.GetLower(), minsAndScales.GetLower());
            Vector256<byte> hbits = Avx.LoadVector256(x + 16);
            byte* q5 = x + 48;
            sbyte* q8 = (sbyte*)(y + Q8KQsOffset);
            Vector256<int> sumi = Vector256<int>.Zero;
            for (int j = 0; j < 4; j++)
            {
                Vector256<short> scale0 = KQuantSimd.BroadcastScale(scales, 2 * j);
                Vector256<short> scale1 = KQuantSimd.BroadcastScale(scales, 2 * j + 1);

                Vector256<byte> bits = Avx.LoadVector256(q5 + 32 * j);
                // Fifth bit of the low nibbles is bit 2j of qh, of the high nibbles bit 2j+1; hbits is shifted
                // down by 2 per group, so they sit in bits 0 and 1 here: move them to bit 4.
                Vector256<byte> h0 = Avx2.ShiftLeftLogical(Avx2.And(hbits, Vector256<byte>.One).AsUInt16(), 4).AsByte();
                Vector256<byte> h1 = Avx2.ShiftLeftLogical(Avx2.And(hbits, two).AsUInt16(), 3).AsByte();
                hbits = Avx2.ShiftRightLogical(hbits.AsUInt16(), 2).AsByte();
                Vector256<byte> q5l = Avx2.Or(Avx2.And(bits, m4), h0);
                Vector256<byte> q5h = Avx2.Or(Avx2.And(Avx2.ShiftRightLogical(bits.AsUInt16(), 4).AsByte(), m4), h1);

                Vector256<short> p16l = Avx2.MultiplyAddAdjacent(q5l, Avx.LoadVector256(q8 + 64 * j));
                Vector256<short> p16h = Avx2.MultiplyAddAdjacent(q5h, Avx.LoadVector256(q8 + 64 * j + 32));
                sumi = Avx2.Add(sumi, Avx2.Add(Avx2.MultiplyAddAdjacent(scale0, p16l), Avx2.MultiplyAddAdjacent(scale1, p16h)));
            }
            acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sumi), acc);
        }

        return KQuantSimd.HorizontalSum(acc) + summs;
    }

    /// <summary>Without AVX2: the generic kernel's results, on <see cref="KQuantPortableDot"/>'s Vector128 path where vectors are accelerated.</summary>
    private static float Fallback(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        KQuantPortableDot.IsSupported ? KQuantPortableDot.Q5K(weights, activations, n) : KQuantGenericDot.Q5K(weights, activations, n);
}
