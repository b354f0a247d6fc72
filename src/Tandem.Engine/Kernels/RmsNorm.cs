using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Tandem.Engine.Kernels;

/// <summary>RMS normalisation: y = x / sqrt(mean(x²) + eps) * weight.</summary>
public static class RmsNorm
{
    /// <summary>
    /// Normalises <paramref name="x"/> into <paramref name="y"/> and multiplies by <paramref name="weight"/>.
    /// The sum of squares is accumulated in double, as ggml's rms_norm does (ggml_float), so the scale
    /// matches llama.cpp's to the last bit on long rows.
    /// </summary>
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, float eps)
    {
        double sum = SumOfSquares(x);
        float mean = (float)(sum / x.Length);
        float scale = 1.0f / MathF.Sqrt(mean + eps);
        TensorPrimitives.Multiply(x, scale, y);
        TensorPrimitives.Multiply(y, weight, y);
    }

    internal static double SumOfSquares(ReadOnlySpan<float> x)
    {
        // Squares are formed in float and summed in double, as ggml does; the order of the double
        // additions does not change the float result in practice.
        int i = 0;
        var acc = Vector256<double>.Zero;
        ref float r = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= x.Length; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref r, (nuint)i);
                var sq = v * v;
                acc += Vector256.WidenLower(sq) + Vector256.WidenUpper(sq);
            }
        else
        {
            // The same lanes in two 128-bit halves (lanes 0-1, 2-3 of the 256-bit accumulator), so the sum is the
            // one the loop above gives (there emulated element by element), without the emulation.
            Vector128<double> lo = Vector128<double>.Zero, hi = lo;
            for (; i + 8 <= x.Length; i += 8)
            {
                var a = Vector128.LoadUnsafe(ref r, (nuint)i);
                var b = Vector128.LoadUnsafe(ref r, (nuint)i + 4);
                var sa = a * a;
                var sb = b * b;
                lo += Vector128.WidenLower(sa) + Vector128.WidenLower(sb);
                hi += Vector128.WidenUpper(sa) + Vector128.WidenUpper(sb);
            }
            acc = Vector256.Create(lo, hi);
        }
        double sum = Vector256.Sum(acc);
        for (; i < x.Length; i++) sum += (double)(x[i] * x[i]);
        return sum;
    }
}
