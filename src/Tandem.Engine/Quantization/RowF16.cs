using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Gguf;

namespace Tandem.Engine.Quantization;

/// <summary>
/// F16 rows (IEEE binary16, little endian). Activations are converted to F16 too, as ggml's
/// <c>vec_dot_type</c> for F16 is F16; the dot product widens both to F32 and accumulates in F32
/// in <c>ggml_vec_dot_f16</c>'s order (<see cref="GgmlFloatDot"/>).
/// </summary>
public readonly struct RowF16 : IMultiRowDot
{
    public static GgmlType Type => GgmlType.F16;
    public static GgmlType DotType => GgmlType.F16;

    /// <summary>Exact widening (every F16 is an F32).</summary>
    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) =>
        TensorPrimitives.ConvertToSingle(Halves(src, dst.Length, "source"), dst);

    /// <summary>Round to nearest even, as ggml-cpu's <c>ggml_cpu_fp32_to_fp16</c> (F16C <c>vcvtps2ph</c> imm 0).</summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (dst.Length < src.Length * 2L)
            throw new ArgumentException($"the destination span holds {dst.Length} bytes, {src.Length} F16 values need {src.Length * 2L}");
        TensorPrimitives.ConvertToHalf(src, MemoryMarshal.Cast<byte, Half>(dst)[..src.Length]);
    }

    /// <summary>
    /// Whether <see cref="Dot"/> adds the products one by one in element order (<see cref="DotScalar"/>): no ggml
    /// vector width to follow and no wide vectors (Arm64, x64 without AVX2).
    /// </summary>
    internal static bool SumsInOrder =>
        Kernels.GgmlSimd.Width == 0 && !Vector512.IsHardwareAccelerated && !Vector256.IsHardwareAccelerated;

    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        ReadOnlySpan<ushort> w = MemoryMarshal.Cast<Half, ushort>(Halves(weights, n, "weights"));
        ReadOnlySpan<ushort> a = MemoryMarshal.Cast<Half, ushort>(Halves(activations, n, "activations"));
        // llama.cpp's own order (ggml_vec_dot_f16) wherever we know its SIMD level.
        if (Kernels.GgmlSimd.Width > 0)
            return GgmlFloatDot.VecDotF16(w, a);
        if (Vector512.IsHardwareAccelerated)
            return DotVector512(w, a);
        if (Vector256.IsHardwareAccelerated)
            return DotVector256(w, a);
        return DotScalar(w, a, 0, 0f);
    }

    /// <summary>Four activation rows at once; bit-identical to four <see cref="Dot"/> calls.</summary>
    public static void Dot4(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> a0, ReadOnlySpan<byte> a1,
        ReadOnlySpan<byte> a2, ReadOnlySpan<byte> a3, int n, Span<float> results)
    {
        if (Kernels.GgmlSimd.Width == 0)
        {
            results[0] = Dot(weights, a0, n); results[1] = Dot(weights, a1, n);
            results[2] = Dot(weights, a2, n); results[3] = Dot(weights, a3, n);
            return;
        }
        if (results.Length < 4) throw new ArgumentException("results must hold four values", nameof(results));
        GgmlFloatDot.VecDotF16x4(MemoryMarshal.Cast<Half, ushort>(Halves(weights, n, "weights")),
            MemoryMarshal.Cast<Half, ushort>(Halves(a0, n, "activations")), MemoryMarshal.Cast<Half, ushort>(Halves(a1, n, "activations")),
            MemoryMarshal.Cast<Half, ushort>(Halves(a2, n, "activations")), MemoryMarshal.Cast<Half, ushort>(Halves(a3, n, "activations")),
            results);
    }

    // The vector paths widen with FloatConversions' pair trick (even/odd halves of each 32-bit lane), which
    // is exact for finite values; they track the largest exponent field seen and hand the whole row to the
    // scalar path when an inf or NaN shows up, so those still give IEEE results.

    internal static float DotVector512(ReadOnlySpan<ushort> w, ReadOnlySpan<ushort> a)
    {
        int n = w.Length;
        ref ushort wr = ref MemoryMarshal.GetReference(w);
        ref ushort ar = ref MemoryMarshal.GetReference(a);
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
        Vector512<ushort> maxExp = Vector512<ushort>.Zero;
        int i = 0;
        for (; i + 64 <= n; i += 64)
        {
            Vector512<uint> w0 = Vector512.LoadUnsafe(ref wr, (nuint)i).AsUInt32();
            Vector512<uint> w1 = Vector512.LoadUnsafe(ref wr, (nuint)i + 32).AsUInt32();
            Vector512<uint> a0 = Vector512.LoadUnsafe(ref ar, (nuint)i).AsUInt32();
            Vector512<uint> a1 = Vector512.LoadUnsafe(ref ar, (nuint)i + 32).AsUInt32();
            maxExp = Vector512.Max(maxExp, Vector512.Max(
                Vector512.Max(FloatConversions.HalfExponents(w0), FloatConversions.HalfExponents(w1)),
                Vector512.Max(FloatConversions.HalfExponents(a0), FloatConversions.HalfExponents(a1))));
            acc0 = Vector512.FusedMultiplyAdd(FloatConversions.HalfEvenToSingle(w0), FloatConversions.HalfEvenToSingle(a0), acc0);
            acc1 = Vector512.FusedMultiplyAdd(FloatConversions.HalfOddToSingle(w0), FloatConversions.HalfOddToSingle(a0), acc1);
            acc2 = Vector512.FusedMultiplyAdd(FloatConversions.HalfEvenToSingle(w1), FloatConversions.HalfEvenToSingle(a1), acc2);
            acc3 = Vector512.FusedMultiplyAdd(FloatConversions.HalfOddToSingle(w1), FloatConversions.HalfOddToSingle(a1), acc3);
        }
        for (; i + 32 <= n; i += 32)
        {
            Vector512<uint> w0 = Vector512.LoadUnsafe(ref wr, (nuint)i).AsUInt32();
            Vector512<uint> a0 = Vector512.LoadUnsafe(ref ar, (nuint)i).AsUInt32();
            maxExp = Vector512.Max(maxExp, Vector512.Max(FloatConversions.HalfExponents(w0), FloatConversions.HalfExponents(a0)));
            acc0 = Vector512.FusedMultiplyAdd(FloatConversions.HalfEvenToSingle(w0), FloatConversions.HalfEvenToSingle(a0), acc0);
            acc1 = Vector512.FusedMultiplyAdd(FloatConversions.HalfOddToSingle(w0), FloatConversions.HalfOddToSingle(a0), acc1);
        }
        if (FloatConversions.HalfExponentsAllOnes(maxExp))
            return DotScalar(w, a, 0, 0f);
        return DotScalar(w, a, i, Vector512.Sum((acc0 + acc1) + (acc2 + acc3)));
    }

    internal static float DotVector256(ReadOnlySpan<ushort> w, ReadOnlySpan<ushort> a)
    {
        int n = w.Length;
        ref ushort wr = ref MemoryMarshal.GetReference(w);
        ref ushort ar = ref MemoryMarshal.GetReference(a);
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = acc0, acc2 = acc0, acc3 = acc0;
        Vector256<ushort> maxExp = Vector256<ushort>.Zero;
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            Vector256<uint> w0 = Vector256.LoadUnsafe(ref wr, (nuint)i).AsUInt32();
            Vector256<uint> w1 = Vector256.LoadUnsafe(ref wr, (nuint)i + 16).AsUInt32();
            Vector256<uint> a0 = Vector256.LoadUnsafe(ref ar, (nuint)i).AsUInt32();
            Vector256<uint> a1 = Vector256.LoadUnsafe(ref ar, (nuint)i + 16).AsUInt32();
            maxExp = Vector256.Max(maxExp, Vector256.Max(
                Vector256.Max(FloatConversions.HalfExponents(w0), FloatConversions.HalfExponents(w1)),
                Vector256.Max(FloatConversions.HalfExponents(a0), FloatConversions.HalfExponents(a1))));
            acc0 = Vector256.FusedMultiplyAdd(FloatConversions.HalfEvenToSingle(w0), FloatConversions.HalfEvenToSingle(a0), acc0);
            acc1 = Vector256.FusedMultiplyAdd(FloatConversions.HalfOddToSingle(w0), FloatConversions.HalfOddToSingle(a0), acc1);
            acc2 = Vector256.FusedMultiplyAdd(FloatConversions.HalfEvenToSingle(w1), FloatConversions.HalfEvenToSingle(a1), acc2);
            acc3 = Vector256.FusedMultiplyAdd(FloatConversions.HalfOddToSingle(w1), FloatConversions.HalfOddToSingle(a1), acc3);
        }
        if (FloatConversions.HalfExponentsAllOnes(maxExp))
            return DotScalar(w, a, 0, 0f);
        return DotScalar(w, a, i, Vector256.Sum((acc0 + acc1) + (acc2 + acc3)));
    }

    /// <summary>Adds the products of elements <paramref name="start"/>.. to <paramref name="sum"/> one by one (tails, inf/NaN rows, no SIMD).</summary>
    internal static float DotScalar(ReadOnlySpan<ushort> w, ReadOnlySpan<ushort> a, int start, float sum)
    {
        for (int i = start; i < w.Length; i++)
            sum += FloatConversions.HalfToSingle(w[i]) * FloatConversions.HalfToSingle(a[i]);
        return sum;
    }

    private static ReadOnlySpan<Half> Halves(ReadOnlySpan<byte> bytes, int n, string what)
    {
        if (n < 0 || bytes.Length < n * 2L)
            throw new ArgumentException($"the {what} span holds {bytes.Length} bytes, {n} F16 values need {n * 2L}");
        return MemoryMarshal.Cast<byte, Half>(bytes)[..n];
    }
}
