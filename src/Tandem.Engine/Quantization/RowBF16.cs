using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Gguf;

namespace Tandem.Engine.Quantization;

/// <summary>
/// BF16 rows (the upper 16 bits of an F32, little endian). Activations are converted to BF16 with ggml's
/// rounding (<see cref="FloatConversions.SingleToBFloat16(float)"/>); the dot product widens both to F32 and
/// accumulates in F32, in <c>ggml_vec_dot_bf16</c>'s order where llama.cpp's SIMD level is known (<see cref="GgmlFloatDot"/>).
/// </summary>
public readonly struct RowBF16 : IRowType
{
    public static GgmlType Type => GgmlType.BF16;
    public static GgmlType DotType => GgmlType.BF16;

    /// <summary>Exact widening.</summary>
    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        ReadOnlySpan<ushort> s = Values(src, dst.Length, "source");
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= s.Length; i += 16)
            {
                (Vector256<uint> lo, Vector256<uint> hi) = Vector256.Widen(Vector256.Create(s.Slice(i, 16)));
                (lo << 16).AsSingle().CopyTo(dst.Slice(i, 8));
                (hi << 16).AsSingle().CopyTo(dst.Slice(i + 8, 8));
            }
        }
        for (; i < s.Length; i++)
            dst[i] = FloatConversions.BFloat16ToSingle(s[i]);
    }

    /// <summary>ggml's <c>ggml_compute_fp32_to_bf16</c>: round to nearest even, NaN kept (quiet).</summary>
    /// <remarks>
    /// A ggml built with AVX512-BF16 converts activations with <c>vcvtne2ps2bf16</c>, which also flushes
    /// subnormals to zero; the two agree for every normal value.
    /// </remarks>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (dst.Length < src.Length * 2L)
            throw new ArgumentException($"the destination span holds {dst.Length} bytes, {src.Length} BF16 values need {src.Length * 2L}");
        Span<ushort> d = MemoryMarshal.Cast<byte, ushort>(dst);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= src.Length; i += 16)
                FloatConversions.SingleToBFloat16(Vector256.Create(src.Slice(i, 8)), Vector256.Create(src.Slice(i + 8, 8))).CopyTo(d.Slice(i, 16));
        }
        for (; i < src.Length; i++)
            d[i] = FloatConversions.SingleToBFloat16(src[i]);
    }

    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        ReadOnlySpan<ushort> w = Values(weights, n, "weights");
        ReadOnlySpan<ushort> a = Values(activations, n, "activations");
        // llama.cpp's own order (ggml_vec_dot_bf16) wherever we know its SIMD level.
        if (Kernels.GgmlSimd.Width > 0)
            return GgmlFloatDot.VecDotBF16(w, a);
        if (Vector512.IsHardwareAccelerated)
            return DotVector512(w, a);
        if (Vector256.IsHardwareAccelerated)
            return DotVector256(w, a);
        return DotScalar(w, a, 0, 0f);
    }

    // A 32-bit lane holds elements 2i (low half) and 2i+1 (high half): "lane << 16" is element 2i as F32 and
    // "lane & 0xFFFF0000" element 2i+1, so both rows widen with one instruction each and no shuffles.

    internal static float DotVector512(ReadOnlySpan<ushort> w, ReadOnlySpan<ushort> a)
    {
        int n = w.Length;
        ref ushort wr = ref MemoryMarshal.GetReference(w);
        ref ushort ar = ref MemoryMarshal.GetReference(a);
        Vector512<uint> high = Vector512.Create(0xFFFF0000u);
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
        int i = 0;
        for (; i + 64 <= n; i += 64)
        {
            Vector512<uint> w0 = Vector512.LoadUnsafe(ref wr, (nuint)i).AsUInt32();
            Vector512<uint> w1 = Vector512.LoadUnsafe(ref wr, (nuint)i + 32).AsUInt32();
            Vector512<uint> a0 = Vector512.LoadUnsafe(ref ar, (nuint)i).AsUInt32();
            Vector512<uint> a1 = Vector512.LoadUnsafe(ref ar, (nuint)i + 32).AsUInt32();
            acc0 = Vector512.FusedMultiplyAdd((w0 << 16).AsSingle(), (a0 << 16).AsSingle(), acc0);
            acc1 = Vector512.FusedMultiplyAdd((w0 & high).AsSingle(), (a0 & high).AsSingle(), acc1);
            acc2 = Vector512.FusedMultiplyAdd((w1 << 16).AsSingle(), (a1 << 16).AsSingle(), acc2);
            acc3 = Vector512.FusedMultiplyAdd((w1 & high).AsSingle(), (a1 & high).AsSingle(), acc3);
        }
        for (; i + 32 <= n; i += 32)
        {
            Vector512<uint> w0 = Vector512.LoadUnsafe(ref wr, (nuint)i).AsUInt32();
            Vector512<uint> a0 = Vector512.LoadUnsafe(ref ar, (nuint)i).AsUInt32();
            acc0 = Vector512.FusedMultiplyAdd((w0 << 16).AsSingle(), (a0 << 16).AsSingle(), acc0);
            acc1 = Vector512.FusedMultiplyAdd((w0 & high).AsSingle(), (a0 & high).AsSingle(), acc1);
        }
        return DotScalar(w, a, i, Vector512.Sum((acc0 + acc1) + (acc2 + acc3)));
    }

    internal static float DotVector256(ReadOnlySpan<ushort> w, ReadOnlySpan<ushort> a)
    {
        int n = w.Length;
        ref ushort wr = ref MemoryMarshal.GetReference(w);
        ref ushort ar = ref MemoryMarshal.GetReference(a);
        Vector256<uint> high = Vector256.Create(0xFFFF0000u);
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            Vector256<uint> w0 = Vector256.LoadUnsafe(ref wr, (nuint)i).AsUInt32();
            Vector256<uint> w1 = Vector256.LoadUnsafe(ref wr, (nuint)i + 16).AsUInt32();
            Vector256<uint> a0 = Vector256.LoadUnsafe(ref ar, (nuint)i).AsUInt32();
            Vector256<uint> a1 = Vector256.LoadUnsafe(ref ar, (nuint)i + 16).AsUInt32();
            acc0 = Vector256.FusedMultiplyAdd((w0 << 16).AsSingle(), (a0 << 16).AsSingle(), acc0);
            acc1 = Vector256.FusedMultiplyAdd((w0 & high).AsSingle(), (a0 & high).AsSingle(), acc1);
            acc2 = Vector256.FusedMultiplyAdd((w1 << 16).AsSingle(), (a1 << 16).AsSingle(), acc2);
            acc3 = Vector256.FusedMultiplyAdd((w1 & high).AsSingle(), (a1 & high).AsSingle(), acc3);
        }
        return DotScalar(w, a, i, Vector256.Sum((acc0 + acc1) + (acc2 + acc3)));
    }

    /// <summary>Adds the products of elements <paramref name="start"/>.. to <paramref name="sum"/> one by one.</summary>
    internal static float DotScalar(ReadOnlySpan<ushort> w, ReadOnlySpan<ushort> a, int start, float sum)
    {
        for (int i = start; i < w.Length; i++)
            sum += FloatConversions.BFloat16ToSingle(w[i]) * FloatConversions.BFloat16ToSingle(a[i]);
        return sum;
    }

    private static ReadOnlySpan<ushort> Values(ReadOnlySpan<byte> bytes, int n, string what)
    {
        if (n < 0 || bytes.Length < n * 2L)
            throw new ArgumentException($"the {what} span holds {bytes.Length} bytes, {n} BF16 values need {n * 2L}");
        return MemoryMarshal.Cast<byte, ushort>(bytes)[..n];
    }
}
