using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Dot products of F32 and F16 rows in exactly the order llama.cpp's CPU backend adds them, so that float
/// models (and F32 attention) give llama.cpp's numbers to the bit. ggml has two kernels for these types:
/// <list type="bullet">
/// <item><c>ggml_vec_dot_f32</c>/<c>ggml_vec_dot_f16</c> (vec.cpp), used when a matmul has one activation row:
/// four vector accumulators over steps of four vectors, summed (0+2)+(1+3) and reduced, then the elements
/// after the last whole step added one by one (in float for F32, in double for F16).</item>
/// <item>llamafile's tinyBLAS (sgemm.cpp), used for two or more activation rows when the weight has a multiple
/// of 4 rows and the row length is a multiple of the vector width: one vector accumulator per output over the
/// whole row, then one horizontal sum.</item>
/// </list>
/// Vector widths follow <see cref="GgmlSimd.Width"/>. F16 values are widened exactly; rows holding an F16
/// inf/NaN are redone on a plain path (their result is inf/NaN whatever the order).
/// </summary>
public static class GgmlFloatDot
{
    private static int Width => GgmlSimd.Width;

    /// <summary>
    /// Whether llama.cpp computes a matmul of <paramref name="rows"/> × <paramref name="cols"/> F32/F16 weights
    /// with <paramref name="n"/> activation rows through tinyBLAS (<c>llamafile_sgemm</c>: n ≥ 2, k % KN == 0,
    /// m % 4 == 0) rather than one <c>ggml_vec_dot</c> per output.
    /// </summary>
    public static bool UsesTinyBlas(int rows, int cols, int n) =>
        Width > 0 && n >= 2 && rows % 4 == 0 && cols % Width == 0;

    /// <summary><c>ggml_vec_dot_f32</c>.</summary>
    public static float VecDotF32(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        float sum = 0;
        if (Width == 16)
        {
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (; i + 64 <= n; i += 64)
            {
                a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i), Vector512.LoadUnsafe(ref yr, (nuint)i), a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i + 16), Vector512.LoadUnsafe(ref yr, (nuint)i + 16), a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i + 32), Vector512.LoadUnsafe(ref yr, (nuint)i + 32), a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i + 48), Vector512.LoadUnsafe(ref yr, (nuint)i + 48), a3);
            }
            sum = GgmlSimd.ReduceAdd((a0 + a2) + (a1 + a3));
        }
        else if (Width == 8)
        {
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (; i + 32 <= n; i += 32)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i), Vector256.LoadUnsafe(ref yr, (nuint)i), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i + 8), Vector256.LoadUnsafe(ref yr, (nuint)i + 8), a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i + 16), Vector256.LoadUnsafe(ref yr, (nuint)i + 16), a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i + 24), Vector256.LoadUnsafe(ref yr, (nuint)i + 24), a3);
            }
            sum = GgmlSimd.ReduceAddHadd((a0 + a2) + (a1 + a3));
        }
        // The tail loop (sumf += x[i]*y[i]) as GCC compiled it in LLamaSharp's builds (read from the disassembly,
        // confirmed against llama.cpp's attention scores): vectorised over 16 and then 8 elements as products
        // that are then added one by one in order (no FMA), and the last < 8 elements contracted to scalar FMAs.
        int rest = n - i;
        int plainEnd = i + rest / 16 * 16;
        if (n - plainEnd >= 8) plainEnd += 8;
        for (; i < plainEnd; i++)
            sum += x[i] * y[i];
        for (; i < n; i++)
            sum = MathF.FusedMultiplyAdd(x[i], y[i], sum);
        return sum;
    }

    /// <summary>tinyBLAS's F32 dot for one output: one FMA accumulator of <see cref="GgmlSimd.Width"/> lanes, then its hsum.</summary>
    public static float TinyBlasF32(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        int n = x.Length;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (Width == 16)
        {
            var acc = Vector512<float>.Zero;
            for (int i = 0; i < n; i += 16)
                acc = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i), Vector512.LoadUnsafe(ref yr, (nuint)i), acc);
            return GgmlSimd.ReduceAdd(acc);
        }
        else
        {
            var acc = Vector256<float>.Zero;
            for (int i = 0; i < n; i += 8)
                acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i), Vector256.LoadUnsafe(ref yr, (nuint)i), acc);
            return GgmlSimd.ReduceAdd(acc);
        }
    }

    /// <summary><c>ggml_vec_dot_f16</c> (F16 rows, F16 activations, F32 products, double tail).</summary>
    public static float VecDotF16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y)
    {
        int n = x.Length, i = 0;
        ref ushort xr = ref MemoryMarshal.GetReference(x);
        ref ushort yr = ref MemoryMarshal.GetReference(y);
        double sum = 0;
        if (Width == 16)
        {
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            Vector512<uint> exp = Vector512<uint>.Zero;
            for (; i + 64 <= n; i += 64)
            {
                a0 = Vector512.FusedMultiplyAdd(Half16(ref xr, i, ref exp), Half16(ref yr, i, ref exp), a0);
                a1 = Vector512.FusedMultiplyAdd(Half16(ref xr, i + 16, ref exp), Half16(ref yr, i + 16, ref exp), a1);
                a2 = Vector512.FusedMultiplyAdd(Half16(ref xr, i + 32, ref exp), Half16(ref yr, i + 32, ref exp), a2);
                a3 = Vector512.FusedMultiplyAdd(Half16(ref xr, i + 48, ref exp), Half16(ref yr, i + 48, ref exp), a3);
            }
            if (Vector512.EqualsAny(exp, Vector512.Create(0x7C00u))) return PlainF16(x, y);
            sum = GgmlSimd.ReduceAdd((a0 + a2) + (a1 + a3));
        }
        else if (Width == 8)
        {
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            Vector256<uint> exp = Vector256<uint>.Zero;
            for (; i + 32 <= n; i += 32)
            {
                a0 = Vector256.FusedMultiplyAdd(Half8(ref xr, i, ref exp), Half8(ref yr, i, ref exp), a0);
                a1 = Vector256.FusedMultiplyAdd(Half8(ref xr, i + 8, ref exp), Half8(ref yr, i + 8, ref exp), a1);
                a2 = Vector256.FusedMultiplyAdd(Half8(ref xr, i + 16, ref exp), Half8(ref yr, i + 16, ref exp), a2);
                a3 = Vector256.FusedMultiplyAdd(Half8(ref xr, i + 24, ref exp), Half8(ref yr, i + 24, ref exp), a3);
            }
            if (Vector256.EqualsAny(exp, Vector256.Create(0x7C00u))) return PlainF16(x, y);
            sum = GgmlSimd.ReduceAddHadd((a0 + a2) + (a1 + a3));
        }
        for (; i < n; i++)
            sum += FloatConversions.HalfToSingle(x[i]) * FloatConversions.HalfToSingle(y[i]);
        return (float)sum;
    }

    /// <summary>tinyBLAS's F16 dot for one output (both operands widened to F32, one FMA accumulator, hsum).</summary>
    public static float TinyBlasF16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y)
    {
        int n = x.Length;
        ref ushort xr = ref MemoryMarshal.GetReference(x);
        ref ushort yr = ref MemoryMarshal.GetReference(y);
        if (Width == 16)
        {
            var acc = Vector512<float>.Zero;
            var exp = Vector512<uint>.Zero;
            for (int i = 0; i < n; i += 16)
                acc = Vector512.FusedMultiplyAdd(Half16(ref xr, i, ref exp), Half16(ref yr, i, ref exp), acc);
            return Vector512.EqualsAny(exp, Vector512.Create(0x7C00u)) ? PlainF16(x, y) : GgmlSimd.ReduceAdd(acc);
        }
        else
        {
            var acc = Vector256<float>.Zero;
            var exp = Vector256<uint>.Zero;
            for (int i = 0; i < n; i += 8)
                acc = Vector256.FusedMultiplyAdd(Half8(ref xr, i, ref exp), Half8(ref yr, i, ref exp), acc);
            return Vector256.EqualsAny(exp, Vector256.Create(0x7C00u)) ? PlainF16(x, y) : GgmlSimd.ReduceAdd(acc);
        }
    }

    /// <summary>16 consecutive F16 values widened exactly (finite values); folds their exponent fields into <paramref name="maxExp"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Half16(ref ushort p, int i, ref Vector512<uint> maxExp)
    {
        (Vector256<uint> lo, Vector256<uint> hi) = Vector256.Widen(Vector256.LoadUnsafe(ref p, (nuint)i));
        Vector512<uint> h = Vector512.Create(lo, hi);
        maxExp = Vector512.Max(maxExp, h & Vector512.Create(0x7C00u));
        Vector512<uint> bits = ((h << 13) & Vector512.Create(0x0FFFE000u)) | ((h << 16) & Vector512.Create(0x80000000u));
        return bits.AsSingle() * Vector512.Create(FloatConversions.TwoPow112);
    }

    /// <inheritdoc cref="Half16"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Half8(ref ushort p, int i, ref Vector256<uint> maxExp)
    {
        Vector256<uint> h = Vector256.WidenLower(Vector256.Create(Vector128.LoadUnsafe(ref p, (nuint)i), Vector128<ushort>.Zero));
        maxExp = Vector256.Max(maxExp, h & Vector256.Create(0x7C00u));
        Vector256<uint> bits = ((h << 13) & Vector256.Create(0x0FFFE000u)) | ((h << 16) & Vector256.Create(0x80000000u));
        return bits.AsSingle() * Vector256.Create(FloatConversions.TwoPow112);
    }

    /// <summary>Rows with an F16 inf/NaN: IEEE products summed in order (the result is inf/NaN in any order).</summary>
    private static float PlainF16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
            sum += FloatConversions.HalfToSingle(x[i]) * FloatConversions.HalfToSingle(y[i]);
        return (float)sum;
    }
}
