using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Gguf;
using static Tandem.Engine.Quantization.KQuantBlocks;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Q4_K: 256-element super-blocks of eight 32-element sub-blocks, 4-bit quants with a 6-bit scale and
/// 6-bit min per sub-block, and fp16 super-scales d and dmin: x = d·sc·q − dmin·m.
/// </summary>
public readonly struct RowQ4_K : IRowType
{
    public static GgmlType Type => GgmlType.Q4_K;
    public static GgmlType DotType => GgmlType.Q8_K;

    /// <summary>ggml's dequantize_row_q4_K, same float operations.</summary>
    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int nb = BlockCount(dst.Length);
        for (int i = 0; i < nb; i++)
        {
            ReadOnlySpan<byte> b = src.Slice(i * Q4KBytes, Q4KBytes);
            float d = ReadHalf(b, 0);
            float min = ReadHalf(b, 2);
            ReadOnlySpan<byte> scales = b.Slice(4, 12);
            ReadOnlySpan<byte> q = b.Slice(16, 128);
            Span<float> y = dst.Slice(i * QK, QK);
            for (int j = 0, s = 0; j < 4; j++, s += 2)
            {
                KQuantScales.GetScaleMin(s, scales, out byte sc, out byte m);
                float d1 = d * sc, m1 = min * m;
                KQuantScales.GetScaleMin(s + 1, scales, out sc, out m);
                float d2 = d * sc, m2 = min * m;
                ReadOnlySpan<byte> qj = q.Slice(32 * j, 32);
                Span<float> yj = y.Slice(64 * j, 64);
                for (int l = 0; l < 32; l++) yj[l] = d1 * (qj[l] & 0xF) - m1;
                for (int l = 0; l < 32; l++) yj[32 + l] = d2 * (qj[l] >> 4) - m2;
            }
        }
    }

    /// <summary>
    /// ggml's quantize_row_q4_K_ref (what llama-quantize uses without an importance matrix), ported
    /// operation for operation, so its output is meant to be bit-identical.
    /// </summary>
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
            Span<byte> b = dst.Slice(i * Q4KBytes, Q4KBytes);
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < 8; j++)
            {
                ReadOnlySpan<float> xj = x.Slice(32 * j, 32);
                float sumX2 = 0;
                for (int k = 0; k < 32; k++) sumX2 += xj[k] * xj[k];
                float avX = MathF.Sqrt(sumX2 / 32);
                for (int k = 0; k < 32; k++) weights[k] = avX + MathF.Abs(xj[k]);
                scales[j] = KQuantSearch.MakeQkx2Quants(15, xj, weights, l.Slice(32 * j, 32), out mins[j], laux, -1f, 0.1f, 20, false);
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }

            float invScale = maxScale > 0 ? 63f / maxScale : 0f;
            float invMin = maxMin > 0 ? 63f / maxMin : 0f;
            for (int j = 0; j < 8; j++)
            {
                // ggml stores nearest_int into a uint8_t before clamping; keep that truncation.
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
                    l[32 * j + k] = (byte)Math.Max(0, Math.Min(15, q));
                }
            }

            Span<byte> qs = b.Slice(16, 128);
            for (int j = 0; j < 4; j++)
                for (int k = 0; k < 32; k++)
                    qs[32 * j + k] = (byte)(l[64 * j + k] | (l[64 * j + k + 32] << 4));
        }
    }

    /// <summary>
    /// Dot product with a Q8_K row. On AVX2 this is ggml's AVX2 ggml_vec_dot_q4_K_q8_K step for step
    /// (same integer sums per lane, same FMA accumulation and horizontal-sum order), so it matches
    /// llama.cpp's x86 result bit for bit; elsewhere it falls back to the scalar generic kernel.
    /// </summary>
    public static unsafe float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        int nb = BlockCount(n);
        if (weights.Length < nb * Q4KBytes || activations.Length < nb * Q8KBytes)
            throw new ArgumentException("row spans are shorter than n elements");
        fixed (byte* x = weights)
        fixed (byte* y = activations)
        {
            if (Avx2.IsSupported && Fma.IsSupported)
                return DotAvx2(x, y, nb);
        }
        return KQuantGenericDot.Q4K(weights, activations, n);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float DotAvx2(byte* x, byte* y, int nb)
    {
        Vector256<byte> m4 = Vector256.Create((byte)0xF);
        Vector256<float> acc = Vector256<float>.Zero;
        Vector128<float> accM = Vector128<float>.Zero;

        for (int i = 0; i < nb; i++, x += Q4KBytes, y += Q8KBytes)
        {
            float yd = Unsafe.ReadUnaligned<float>(y);
            float d = yd * HalfToFloat(Unsafe.ReadUnaligned<ushort>(x));
            float dmin = -yd * HalfToFloat(Unsafe.ReadUnaligned<ushort>(x + 2));

            var (s0, s1, mn0, mn1) = KQuantScales.Unpack(x + 4);
            Vector256<short> minsAndScales = Avx2.ConvertToVector256Int16(Vector128.Create(s0, s1, mn0, mn1).AsByte());

            // Mins: dmin · Σ_sub m_sub · (bsum_2k + bsum_2k+1), four lanes as in ggml.
            Vector256<short> bsums = Avx.LoadVector256((short*)(y + Q8KBsumsOffset));
            Vector128<short> q8s = Ssse3.HorizontalAdd(bsums.GetLower(), bsums.GetUpper());
            Vector128<int> prod = Sse2.MultiplyAddAdjacent(minsAndScales.GetUpper(), q8s);
            accM = Fma.MultiplyAdd(Vector128.Create(dmin), Sse2.ConvertToVector128Single(prod), accM);

            Vector256<short> scales = Vector256.Create(minsAndScales.GetLower(), minsAndScales.GetLower());
            byte* q4 = x + 16;
            sbyte* q8 = (sbyte*)(y + Q8KQsOffset);
            Vector256<int> sumi = Vector256<int>.Zero;
            for (int j = 0; j < 4; j++)
            {
                Vector256<short> scaleL = KQuantSimd.BroadcastScale(scales, 2 * j);
                Vector256<short> scaleH = KQuantSimd.BroadcastScale(scales, 2 * j + 1);

                Vector256<byte> bits = Avx.LoadVector256(q4 + 32 * j);
                Vector256<byte> q4l = Avx2.And(bits, m4);
                Vector256<byte> q4h = Avx2.And(Avx2.ShiftRightLogical(bits.AsUInt16(), 4).AsByte(), m4);

                Vector256<short> p16l = Avx2.MultiplyAddAdjacent(q4l, Avx.LoadVector256(q8 + 64 * j));
                Vector256<int> p32l = Avx2.MultiplyAddAdjacent(scaleL, p16l);
                Vector256<short> p16h = Avx2.MultiplyAddAdjacent(q4h, Avx.LoadVector256(q8 + 64 * j + 32));
                Vector256<int> p32h = Avx2.MultiplyAddAdjacent(scaleH, p16h);
                sumi = Avx2.Add(sumi, Avx2.Add(p32l, p32h));
            }
            acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sumi), acc);
        }

        accM = Sse.Add(accM, Sse.MoveHighToLow(accM, accM));
        accM = Sse.AddScalar(accM, Sse3.MoveHighAndDuplicate(accM));
        return KQuantSimd.HorizontalSum(acc) + accM.ToScalar();
    }
}
