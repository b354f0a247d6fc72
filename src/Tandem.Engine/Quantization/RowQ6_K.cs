using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Gguf;
using static Tandem.Engine.Quantization.KQuantBlocks;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Q6_K: 256-element super-blocks of sixteen 16-element sub-blocks, 6-bit quants (low 4 bits in ql, high 2
/// in qh) with a signed 8-bit scale per sub-block and an fp16 super-scale: x = d·sc·(q − 32).
/// </summary>
public readonly struct RowQ6_K : IMultiRowDot
{
    public static GgmlType Type => GgmlType.Q6_K;
    public static GgmlType DotType => GgmlType.Q8_K;

    private const int QlOffset = 0, QhOffset = 128, ScalesOffset = 192, DOffset = 208;

    /// <summary>ggml's dequantize_row_q6_K, same float operations.</summary>
    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int nb = BlockCount(dst.Length);
        for (int i = 0; i < nb; i++)
        {
            ReadOnlySpan<byte> b = src.Slice(i * Q6KBytes, Q6KBytes);
            float d = ReadHalf(b, DOffset);
            ReadOnlySpan<sbyte> sc = MemoryMarshal.Cast<byte, sbyte>(b.Slice(ScalesOffset, 16));
            Span<float> y = dst.Slice(i * QK, QK);
            for (int half = 0; half < 2; half++)
            {
                ReadOnlySpan<byte> ql = b.Slice(QlOffset + 64 * half, 64);
                ReadOnlySpan<byte> qh = b.Slice(QhOffset + 32 * half, 32);
                ReadOnlySpan<sbyte> s = sc.Slice(8 * half, 8);
                Span<float> yh = y.Slice(128 * half, 128);
                for (int l = 0; l < 32; l++)
                {
                    int k = l / 16;
                    int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    yh[l] = d * s[k] * q1;
                    yh[l + 32] = d * s[k + 2] * q2;
                    yh[l + 64] = d * s[k + 4] * q3;
                    yh[l + 96] = d * s[k + 6] * q4;
                }
            }
        }
    }

    /// <summary>ggml's quantize_row_q6_K_ref, ported operation for operation.</summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        int nb = BlockCount(src.Length);
        Span<sbyte> l = stackalloc sbyte[QK];
        Span<float> scales = stackalloc float[16];

        for (int i = 0; i < nb; i++)
        {
            ReadOnlySpan<float> x = src.Slice(i * QK, QK);
            Span<byte> b = dst.Slice(i * Q6KBytes, Q6KBytes);

            float maxScale = 0, maxAbsScale = 0;
            for (int ib = 0; ib < 16; ib++)
            {
                float scale = KQuantSearch.MakeQxQuants(32, x.Slice(16 * ib, 16), l.Slice(16 * ib, 16));
                scales[ib] = scale;
                float abs = MathF.Abs(scale);
                if (abs > maxAbsScale)
                {
                    maxAbsScale = abs;
                    maxScale = scale;
                }
            }

            if (maxAbsScale < GroupMaxEps)
            {
                b.Clear();
                continue;
            }

            float iscale = -128f / maxScale;
            WriteHalf(b, DOffset, 1 / iscale);
            Span<sbyte> sc = MemoryMarshal.Cast<byte, sbyte>(b.Slice(ScalesOffset, 16));
            for (int ib = 0; ib < 16; ib++)
                sc[ib] = (sbyte)Math.Min(127, NearestInt(iscale * scales[ib]));

            float dAll = ReadHalf(b, DOffset);
            for (int j = 0; j < 16; j++)
            {
                float d = dAll * sc[j];
                if (d == 0) continue;
                for (int k = 0; k < 16; k++)
                {
                    int q = NearestInt(x[16 * j + k] / d);
                    l[16 * j + k] = (sbyte)(Math.Max(-32, Math.Min(31, q)) + 32);
                }
            }

            for (int half = 0; half < 2; half++)
            {
                Span<byte> ql = b.Slice(QlOffset + 64 * half, 64);
                Span<byte> qh = b.Slice(QhOffset + 32 * half, 32);
                Span<sbyte> lh = l.Slice(128 * half, 128);
                for (int k = 0; k < 32; k++)
                {
                    int q1 = lh[k], q2 = lh[k + 32], q3 = lh[k + 64], q4 = lh[k + 96];
                    ql[k] = (byte)((q1 & 0xF) | ((q3 & 0xF) << 4));
                    ql[k + 32] = (byte)((q2 & 0xF) | ((q4 & 0xF) << 4));
                    qh[k] = (byte)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
                }
            }
        }
    }

    /// <summary>
    /// Dot product with a Q8_K row. On AVX2 this is ggml's AVX2 ggml_vec_dot_q6_K_q8_K step for step, in the
    /// form shipped with LLamaSharp 0.30 (our llama.cpp oracle): quants multiplied unsigned (0..63) and the −32
    /// offset taken off per 32-bit lane as 32·(bsum·scale) pairs (q8sclsub). That lane layout decides the float
    /// rounding, so it is kept; elsewhere the generic kernel's results (<see cref="Fallback"/>).
    /// </summary>
    public static unsafe float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        int nb = BlockCount(n);
        if (weights.Length < nb * Q6KBytes || activations.Length < nb * Q8KBytes)
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
        Vector256<byte> m3 = Vector256.Create((byte)3);
        Vector256<float> acc = Vector256<float>.Zero;

        for (int i = 0; i < nb; i++, x += Q6KBytes, y += Q8KBytes)
        {
            float d = Unsafe.ReadUnaligned<float>(y) * HalfToFloat(Unsafe.ReadUnaligned<ushort>(x + DOffset));
            sbyte* sc = (sbyte*)(x + ScalesOffset);

            // Lane k of the offset term: 32·(bsums[2k]·sc[2k] + bsums[2k+1]·sc[2k+1]).
            Vector256<short> scales16 = Avx2.ConvertToVector256Int16(Sse2.LoadVector128(sc));
            Vector256<short> bsums = Avx.LoadVector256((short*)(y + Q8KBsumsOffset));
            Vector256<int> offset = Avx2.ShiftLeftLogical(Avx2.MultiplyAddAdjacent(bsums, scales16), 5);

            byte* ql = x + QlOffset;
            byte* qh = x + QhOffset;
            sbyte* q8 = (sbyte*)(y + Q8KQsOffset);
            Vector256<int> sumi = Vector256<int>.Zero;

            for (int j = 0; j < 2; j++, ql += 64, qh += 32, q8 += 128, sc += 8)
            {
                Vector256<byte> bits1 = Avx.LoadVector256(ql);
                Vector256<byte> bits2 = Avx.LoadVector256(ql + 32);
                Vector256<ushort> bitsH = Avx.LoadVector256(qh).AsUInt16();

                Vector256<byte> q0 = Avx2.Or(Avx2.And(bits1, m4), Avx2.ShiftLeftLogical(Avx2.And(bitsH.AsByte(), m3).AsUInt16(), 4).AsByte());
                Vector256<byte> q1 = Avx2.Or(Avx2.And(bits2, m4), Avx2.ShiftLeftLogical(Avx2.And(Avx2.ShiftRightLogical(bitsH, 2).AsByte(), m3).AsUInt16(), 4).AsByte());
                Vector256<byte> q2 = Avx2.Or(Avx2.And(Avx2.ShiftRightLogical(bits1.AsUInt16(), 4).AsByte(), m4),
                                             Avx2.ShiftLeftLogical(Avx2.And(Avx2.ShiftRightLogical(bitsH, 4).AsByte(), m3).AsUInt16(), 4).AsByte());
                Vector256<byte> q3 = Avx2.Or(Avx2.And(Avx2.ShiftRightLogical(bits2.AsUInt16(), 4).AsByte(), m4),
                                             Avx2.ShiftLeftLogical(Avx2.And(Avx2.ShiftRightLogical(bitsH, 6).AsByte(), m3).AsUInt16(), 4).AsByte());

                sumi = Avx2.Add(sumi, Avx2.Add(SubBlockPair(q0, q8, sc[0], sc[1]), SubBlockPair(q1, q8 + 32, sc[2], sc[3])));
                sumi = Avx2.Add(sumi, Avx2.Add(SubBlockPair(q2, q8 + 64, sc[4], sc[5]), SubBlockPair(q3, q8 + 96, sc[6], sc[7])));
            }
            sumi = Avx2.Subtract(sumi, offset);
            acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sumi), acc);
        }
        return KQuantSimd.HorizontalSum(acc);
    }

    /// <summary>
    /// Four Q8_K activation rows at once: the 6-bit quants and scales of each super-block are unpacked once
    /// and used for all four. Per pair the integer sums and the float operations (d, FMA, final sum) are
    /// those of <see cref="Dot"/> in the same order, so each result is bit-identical to it.
    /// </summary>
    public static unsafe void Dot4(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> a0, ReadOnlySpan<byte> a1,
        ReadOnlySpan<byte> a2, ReadOnlySpan<byte> a3, int n, Span<float> results)
    {
        int nb = BlockCount(n);
        int shortest = Math.Min(Math.Min(a0.Length, a1.Length), Math.Min(a2.Length, a3.Length));
        if (weights.Length < nb * Q6KBytes || shortest < nb * Q8KBytes)
            throw new ArgumentException("row spans are shorter than n elements");
        if (results.Length < 4) throw new ArgumentException("results must hold four values", nameof(results));
        if (!(Avx2.IsSupported && Fma.IsSupported))
        {
            if (KQuantPortableDot.IsSupported)
            {
                KQuantPortableDot.Q6K4(weights, a0, a1, a2, a3, n, results);
                return;
            }
            results[0] = KQuantGenericDot.Q6K(weights, a0, n);
            results[1] = KQuantGenericDot.Q6K(weights, a1, n);
            results[2] = KQuantGenericDot.Q6K(weights, a2, n);
            results[3] = KQuantGenericDot.Q6K(weights, a3, n);
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
        Vector256<byte> m3 = Vector256.Create((byte)3);
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;

        for (int i = 0; i < nb; i++, x += Q6KBytes, y0 += Q8KBytes, y1 += Q8KBytes, y2 += Q8KBytes, y3 += Q8KBytes)
        {
            float xd = HalfToFloat(Unsafe.ReadUnaligned<ushort>(x + DOffset));
            sbyte* sc = (sbyte*)(x + ScalesOffset);
            Vector256<short> scales16 = Avx2.ConvertToVector256Int16(Sse2.LoadVector128(sc));
            Vector256<int> sumi0 = Vector256<int>.Zero, sumi1 = Vector256<int>.Zero;
            Vector256<int> sumi2 = Vector256<int>.Zero, sumi3 = Vector256<int>.Zero;

            byte* ql = x + QlOffset;
            byte* qh = x + QhOffset;
            int q8 = Q8KQsOffset;
            for (int j = 0; j < 2; j++, ql += 64, qh += 32, q8 += 128, sc += 8)
            {
                Vector256<byte> bits1 = Avx.LoadVector256(ql);
                Vector256<byte> bits2 = Avx.LoadVector256(ql + 32);
                Vector256<ushort> bitsH = Avx.LoadVector256(qh).AsUInt16();

                Vector256<byte> q0 = Avx2.Or(Avx2.And(bits1, m4), Avx2.ShiftLeftLogical(Avx2.And(bitsH.AsByte(), m3).AsUInt16(), 4).AsByte());
                Vector256<byte> q1 = Avx2.Or(Avx2.And(bits2, m4), Avx2.ShiftLeftLogical(Avx2.And(Avx2.ShiftRightLogical(bitsH, 2).AsByte(), m3).AsUInt16(), 4).AsByte());
                Vector256<byte> q2 = Avx2.Or(Avx2.And(Avx2.ShiftRightLogical(bits1.AsUInt16(), 4).AsByte(), m4),
                                             Avx2.ShiftLeftLogical(Avx2.And(Avx2.ShiftRightLogical(bitsH, 4).AsByte(), m3).AsUInt16(), 4).AsByte());
                Vector256<byte> q3 = Avx2.Or(Avx2.And(Avx2.ShiftRightLogical(bits2.AsUInt16(), 4).AsByte(), m4),
                                             Avx2.ShiftLeftLogical(Avx2.And(Avx2.ShiftRightLogical(bitsH, 6).AsByte(), m3).AsUInt16(), 4).AsByte());
                Vector256<short> c0 = Vector256.Create(Vector128.Create((short)sc[0]), Vector128.Create((short)sc[1]));
                Vector256<short> c1 = Vector256.Create(Vector128.Create((short)sc[2]), Vector128.Create((short)sc[3]));
                Vector256<short> c2 = Vector256.Create(Vector128.Create((short)sc[4]), Vector128.Create((short)sc[5]));
                Vector256<short> c3 = Vector256.Create(Vector128.Create((short)sc[6]), Vector128.Create((short)sc[7]));

                sumi0 = Quarter(sumi0, q0, q1, q2, q3, c0, c1, c2, c3, (sbyte*)(y0 + q8));
                sumi1 = Quarter(sumi1, q0, q1, q2, q3, c0, c1, c2, c3, (sbyte*)(y1 + q8));
                sumi2 = Quarter(sumi2, q0, q1, q2, q3, c0, c1, c2, c3, (sbyte*)(y2 + q8));
                sumi3 = Quarter(sumi3, q0, q1, q2, q3, c0, c1, c2, c3, (sbyte*)(y3 + q8));
            }
            acc0 = Finish(acc0, sumi0, scales16, xd, y0);
            acc1 = Finish(acc1, sumi1, scales16, xd, y1);
            acc2 = Finish(acc2, sumi2, scales16, xd, y2);
            acc3 = Finish(acc3, sumi3, scales16, xd, y3);
        }
        results[0] = KQuantSimd.HorizontalSum(acc0);
        results[1] = KQuantSimd.HorizontalSum(acc1);
        results[2] = KQuantSimd.HorizontalSum(acc2);
        results[3] = KQuantSimd.HorizontalSum(acc3);
    }

    /// <summary>One row's integer sums over 128 quants, added to <paramref name="sumi"/> in <see cref="DotAvx2"/>'s grouping.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<int> Quarter(Vector256<int> sumi, Vector256<byte> q0, Vector256<byte> q1,
        Vector256<byte> q2, Vector256<byte> q3, Vector256<short> c0, Vector256<short> c1, Vector256<short> c2,
        Vector256<short> c3, sbyte* q8)
    {
        sumi = Avx2.Add(sumi, Avx2.Add(Avx2.MultiplyAddAdjacent(c0, Avx2.MultiplyAddAdjacent(q0, Avx.LoadVector256(q8))),
                                       Avx2.MultiplyAddAdjacent(c1, Avx2.MultiplyAddAdjacent(q1, Avx.LoadVector256(q8 + 32)))));
        return Avx2.Add(sumi, Avx2.Add(Avx2.MultiplyAddAdjacent(c2, Avx2.MultiplyAddAdjacent(q2, Avx.LoadVector256(q8 + 64))),
                                       Avx2.MultiplyAddAdjacent(c3, Avx2.MultiplyAddAdjacent(q3, Avx.LoadVector256(q8 + 96)))));
    }

    /// <summary>Takes the −32 offset off one row's sums and accumulates them, as the end of <see cref="DotAvx2"/>'s block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<float> Finish(Vector256<float> acc, Vector256<int> sumi, Vector256<short> scales16, float xd, byte* y)
    {
        float d = Unsafe.ReadUnaligned<float>(y) * xd;
        Vector256<short> bsums = Avx.LoadVector256((short*)(y + Q8KBsumsOffset));
        Vector256<int> offset = Avx2.ShiftLeftLogical(Avx2.MultiplyAddAdjacent(bsums, scales16), 5);
        sumi = Avx2.Subtract(sumi, offset);
        return Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sumi), acc);
    }

    /// <summary>Σ sc·q·q8 over 32 unsigned quants, two 16-element sub-blocks with scales s0 and s1, in ggml's lane layout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<int> SubBlockPair(Vector256<byte> q, sbyte* q8, sbyte s0, sbyte s1)
    {
        Vector256<short> p16 = Avx2.MultiplyAddAdjacent(q, Avx.LoadVector256(q8));
        Vector256<short> scale = Vector256.Create(Vector128.Create((short)s0), Vector128.Create((short)s1));
        return Avx2.MultiplyAddAdjacent(scale, p16);
    }

    /// <summary>Without AVX2: the generic kernel's results, on <see cref="KQuantPortableDot"/>'s Vector128 path where vectors are accelerated.</summary>
    private static float Fallback(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        KQuantPortableDot.IsSupported ? KQuantPortableDot.Q6K(weights, activations, n) : KQuantGenericDot.Q6K(weights, activations, n);
}
