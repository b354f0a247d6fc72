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
public readonly struct RowQ4_K : IMultiRowDot
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
    /// llama.cpp's x86 result bit for bit; elsewhere the generic kernel's results (<see cref="Fallback"/>).
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
        return Fallback(weights, activations, n);
    }

    /// <summary>
    /// Four Q8_K activation rows at once: the super-block's scales, mins and nibbles are unpacked once and
    /// used for all four. Per pair the float operations and their order are those of <see cref="Dot"/>
    /// (same d, dmin, FMAs and final sums), so each result is bit-identical to it.
    /// </summary>
    public static unsafe void Dot4(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> a0, ReadOnlySpan<byte> a1,
        ReadOnlySpan<byte> a2, ReadOnlySpan<byte> a3, int n, Span<float> results)
    {
        int nb = BlockCount(n);
        int shortest = Math.Min(Math.Min(a0.Length, a1.Length), Math.Min(a2.Length, a3.Length));
        if (weights.Length < nb * Q4KBytes || shortest < nb * Q8KBytes)
            throw new ArgumentException("row spans are shorter than n elements");
        if (results.Length < 4) throw new ArgumentException("results must hold four values", nameof(results));
        if (!(Avx2.IsSupported && Fma.IsSupported))
        {
            if (KQuantPortableDot.IsSupported)
            {
                KQuantPortableDot.Q4K4(weights, a0, a1, a2, a3, n, results);
                return;
            }
            results[0] = KQuantGenericDot.Q4K(weights, a0, n);
            results[1] = KQuantGenericDot.Q4K(weights, a1, n);
            results[2] = KQuantGenericDot.Q4K(weights, a2, n);
            results[3] = KQuantGenericDot.Q4K(weights, a3, n);
            return;
        }
        fixed (byte* x = weights)
        fixed (byte* y0 = a0)
        fixed (byte* y1 = a1)
        fixed (byte* y2 = a2)
        fixed (byte* y3 = a3)
        fixed (float* r = results)
            Dot4Avx2(x, y0, y1, y2, y3, nb, r);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Dot4Avx2(byte* x, byte* y0, byte* y1, byte* y2, byte* y3, int nb, float* results)
    {
        Vector256<byte> m4 = Vector256.Create((byte)0xF);
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        Vector128<float> accM0 = Vector128<float>.Zero, accM1 = Vector128<float>.Zero;
        Vector128<float> accM2 = Vector128<float>.Zero, accM3 = Vector128<float>.Zero;

        for (int i = 0; i < nb; i++, x += Q4KBytes, y0 += Q8KBytes, y1 += Q8KBytes, y2 += Q8KBytes, y3 += Q8KBytes)
        {
            float xd = HalfToFloat(Unsafe.ReadUnaligned<ushort>(x));
            float xmin = HalfToFloat(Unsafe.ReadUnaligned<ushort>(x + 2));
            var (s0, s1, mn0, mn1) = KQuantScales.Unpack(x + 4);
            Vector256<short> minsAndScales = Avx2.ConvertToVector256Int16(Vector128.Create(s0, s1, mn0, mn1).AsByte());
            Vector128<short> mins = minsAndScales.GetUpper();

            accM0 = MinsTerm(y0, xmin, mins, accM0);
            accM1 = MinsTerm(y1, xmin, mins, accM1);
            accM2 = MinsTerm(y2, xmin, mins, accM2);
            accM3 = MinsTerm(y3, xmin, mins, accM3);

            Vector256<short> scales = Vector256.Create(minsAndScales.GetLower(), minsAndScales.GetLower());
            byte* q4 = x + 16;
            Vector256<int> sumi0 = Vector256<int>.Zero, sumi1 = Vector256<int>.Zero;
            Vector256<int> sumi2 = Vector256<int>.Zero, sumi3 = Vector256<int>.Zero;
            for (int j = 0; j < 4; j++)
            {
                Vector256<short> scaleL = KQuantSimd.BroadcastScale(scales, 2 * j);
                Vector256<short> scaleH = KQuantSimd.BroadcastScale(scales, 2 * j + 1);
                Vector256<byte> bits = Avx.LoadVector256(q4 + 32 * j);
                Vector256<byte> q4l = Avx2.And(bits, m4);
                Vector256<byte> q4h = Avx2.And(Avx2.ShiftRightLogical(bits.AsUInt16(), 4).AsByte(), m4);
                int off = Q8KQsOffset + 64 * j;
                sumi0 = Avx2.Add(sumi0, SubBlockPair(q4l, q4h, scaleL, scaleH, (sbyte*)(y0 + off)));
                sumi1 = Avx2.Add(sumi1, SubBlockPair(q4l, q4h, scaleL, scaleH, (sbyte*)(y1 + off)));
                sumi2 = Avx2.Add(sumi2, SubBlockPair(q4l, q4h, scaleL, scaleH, (sbyte*)(y2 + off)));
                sumi3 = Avx2.Add(sumi3, SubBlockPair(q4l, q4h, scaleL, scaleH, (sbyte*)(y3 + off)));
            }
            acc0 = Fma.MultiplyAdd(Vector256.Create(Unsafe.ReadUnaligned<float>(y0) * xd), Avx.ConvertToVector256Single(sumi0), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Create(Unsafe.ReadUnaligned<float>(y1) * xd), Avx.ConvertToVector256Single(sumi1), acc1);
            acc2 = Fma.MultiplyAdd(Vector256.Create(Unsafe.ReadUnaligned<float>(y2) * xd), Avx.ConvertToVector256Single(sumi2), acc2);
            acc3 = Fma.MultiplyAdd(Vector256.Create(Unsafe.ReadUnaligned<float>(y3) * xd), Avx.ConvertToVector256Single(sumi3), acc3);
        }
        results[0] = Finish(acc0, accM0);
        results[1] = Finish(acc1, accM1);
        results[2] = Finish(acc2, accM2);
        results[3] = Finish(acc3, accM3);
    }

    /// <summary>One row's mins contribution for a super-block, as in <see cref="DotAvx2"/>: accM += dmin · Σ m·bsums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector128<float> MinsTerm(byte* y, float xmin, Vector128<short> mins, Vector128<float> accM)
    {
        float dmin = -Unsafe.ReadUnaligned<float>(y) * xmin;
        Vector256<short> bsums = Avx.LoadVector256((short*)(y + Q8KBsumsOffset));
        Vector128<short> q8s = Ssse3.HorizontalAdd(bsums.GetLower(), bsums.GetUpper());
        Vector128<int> prod = Sse2.MultiplyAddAdjacent(mins, q8s);
        return Fma.MultiplyAdd(Vector128.Create(dmin), Sse2.ConvertToVector128Single(prod), accM);
    }

    /// <summary>Scaled integer sums of one 64-element pair of sub-blocks, as in <see cref="DotAvx2"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<int> SubBlockPair(Vector256<byte> q4l, Vector256<byte> q4h,
        Vector256<short> scaleL, Vector256<short> scaleH, sbyte* q8)
    {
        Vector256<int> p32l = Avx2.MultiplyAddAdjacent(scaleL, Avx2.MultiplyAddAdjacent(q4l, Avx.LoadVector256(q8)));
        Vector256<int> p32h = Avx2.MultiplyAddAdjacent(scaleH, Avx2.MultiplyAddAdjacent(q4h, Avx.LoadVector256(q8 + 32)));
        return Avx2.Add(p32l, p32h);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish(Vector256<float> acc, Vector128<float> accM) => KQuantSimd.FinishWithMins(acc, accM);

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

        return KQuantSimd.FinishWithMins(acc, accM);
    }

    /// <summary>Without AVX2: the generic kernel's results, on <see cref="KQuantPortableDot"/>'s Vector128 path where vectors are accelerated.</summary>
    private static float Fallback(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        KQuantPortableDot.IsSupported ? KQuantPortableDot.Q4K(weights, activations, n) : KQuantGenericDot.Q4K(weights, activations, n);
}
