using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The micro-kernel of the tiled F16 matmul where ggml's SIMD width is 16 (AVX-512): one weight row ×
/// <typeparamref name="TTokens"/> tokens (up to six: 24 accumulators). Each token gets exactly
/// <see cref="GgmlFloatDot.VecDotF16"/>'s arithmetic: four 16-lane FMA accumulators over 64-element steps,
/// <c>ReduceAdd((a0 + a2) + (a1 + a3))</c>, the double tail, the plain-sum fallback for inf/NaN rows. The weight
/// row is widened once per step for all tokens, and activations come widened from the
/// <see cref="F16ActivationPanel"/>, so a product costs one FMA with a memory operand plus a sixth of a widening.
/// </summary>
internal static unsafe class F16TileAvx512
{
    /// <summary>
    /// The vector part of row <paramref name="w"/> dotted with tokens <paramref name="t0"/>.. of the panel: the
    /// reduced sums into <c>results[k]</c>, to be finished by <see cref="GgmlFloatDot.FinishWidened"/> from element
    /// <see cref="F16ActivationPanel.VectorEnd"/>; returns whether the row's vector part holds an F16 inf/NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool Tile<TTokens>(ushort* w, in F16ActivationPanel panel, int t0, float* results)
        where TTokens : ITileCount
    {
        int n = panel.Cols;
        float* y0 = panel.Row(t0);
        float* y1 = TTokens.Count > 1 ? panel.Row(t0 + 1) : y0;
        float* y2 = TTokens.Count > 2 ? panel.Row(t0 + 2) : y0;
        float* y3 = TTokens.Count > 3 ? panel.Row(t0 + 3) : y0;
        float* y4 = TTokens.Count > 4 ? panel.Row(t0 + 4) : y0;
        float* y5 = TTokens.Count > 5 ? panel.Row(t0 + 5) : y0;
        // a<token><accumulator>
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        Vector512<float> a40 = default, a41 = default, a42 = default, a43 = default;
        Vector512<float> a50 = default, a51 = default, a52 = default, a53 = default;
        Vector512<uint> magnitude = default;
        ref ushort wr = ref *w;
        int i = 0;
        for (; i + 64 <= n; i += 64)
        {
            // One 16-element column of the weight row at a time against every token's accumulator for it.
            // (Plain statements: passing the accumulators by ref to a helper made the JIT store them every step.)
            Vector512<float> x0 = GgmlFloatDot.Half16(ref wr, i, ref magnitude);
            a00 = Vector512.FusedMultiplyAdd(x0, Vector512.Load(y0 + i), a00);
            if (TTokens.Count > 1) a10 = Vector512.FusedMultiplyAdd(x0, Vector512.Load(y1 + i), a10);
            if (TTokens.Count > 2) a20 = Vector512.FusedMultiplyAdd(x0, Vector512.Load(y2 + i), a20);
            if (TTokens.Count > 3) a30 = Vector512.FusedMultiplyAdd(x0, Vector512.Load(y3 + i), a30);
            if (TTokens.Count > 4) a40 = Vector512.FusedMultiplyAdd(x0, Vector512.Load(y4 + i), a40);
            if (TTokens.Count > 5) a50 = Vector512.FusedMultiplyAdd(x0, Vector512.Load(y5 + i), a50);
            Vector512<float> x1 = GgmlFloatDot.Half16(ref wr, i + 16, ref magnitude);
            a01 = Vector512.FusedMultiplyAdd(x1, Vector512.Load(y0 + i + 16), a01);
            if (TTokens.Count > 1) a11 = Vector512.FusedMultiplyAdd(x1, Vector512.Load(y1 + i + 16), a11);
            if (TTokens.Count > 2) a21 = Vector512.FusedMultiplyAdd(x1, Vector512.Load(y2 + i + 16), a21);
            if (TTokens.Count > 3) a31 = Vector512.FusedMultiplyAdd(x1, Vector512.Load(y3 + i + 16), a31);
            if (TTokens.Count > 4) a41 = Vector512.FusedMultiplyAdd(x1, Vector512.Load(y4 + i + 16), a41);
            if (TTokens.Count > 5) a51 = Vector512.FusedMultiplyAdd(x1, Vector512.Load(y5 + i + 16), a51);
            Vector512<float> x2 = GgmlFloatDot.Half16(ref wr, i + 32, ref magnitude);
            a02 = Vector512.FusedMultiplyAdd(x2, Vector512.Load(y0 + i + 32), a02);
            if (TTokens.Count > 1) a12 = Vector512.FusedMultiplyAdd(x2, Vector512.Load(y1 + i + 32), a12);
            if (TTokens.Count > 2) a22 = Vector512.FusedMultiplyAdd(x2, Vector512.Load(y2 + i + 32), a22);
            if (TTokens.Count > 3) a32 = Vector512.FusedMultiplyAdd(x2, Vector512.Load(y3 + i + 32), a32);
            if (TTokens.Count > 4) a42 = Vector512.FusedMultiplyAdd(x2, Vector512.Load(y4 + i + 32), a42);
            if (TTokens.Count > 5) a52 = Vector512.FusedMultiplyAdd(x2, Vector512.Load(y5 + i + 32), a52);
            Vector512<float> x3 = GgmlFloatDot.Half16(ref wr, i + 48, ref magnitude);
            a03 = Vector512.FusedMultiplyAdd(x3, Vector512.Load(y0 + i + 48), a03);
            if (TTokens.Count > 1) a13 = Vector512.FusedMultiplyAdd(x3, Vector512.Load(y1 + i + 48), a13);
            if (TTokens.Count > 2) a23 = Vector512.FusedMultiplyAdd(x3, Vector512.Load(y2 + i + 48), a23);
            if (TTokens.Count > 3) a33 = Vector512.FusedMultiplyAdd(x3, Vector512.Load(y3 + i + 48), a33);
            if (TTokens.Count > 4) a43 = Vector512.FusedMultiplyAdd(x3, Vector512.Load(y4 + i + 48), a43);
            if (TTokens.Count > 5) a53 = Vector512.FusedMultiplyAdd(x3, Vector512.Load(y5 + i + 48), a53);
        }
        // Only the vector sums here: no calls in this method, because zmm/ymm registers do not survive a
        // call and accumulators live across one were stored to the stack at every FMA of the loop.
        results[0] = Reduce(a00, a01, a02, a03);
        if (TTokens.Count > 1) results[1] = Reduce(a10, a11, a12, a13);
        if (TTokens.Count > 2) results[2] = Reduce(a20, a21, a22, a23);
        if (TTokens.Count > 3) results[3] = Reduce(a30, a31, a32, a33);
        if (TTokens.Count > 4) results[4] = Reduce(a40, a41, a42, a43);
        if (TTokens.Count > 5) results[5] = Reduce(a50, a51, a52, a53);
        return Vector512.GreaterThanOrEqualAny(magnitude, Vector512.Create(0x7C00u));
    }

    /// <summary><see cref="GgmlFloatDot.VecDotF16"/>'s reduction of its four accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Reduce(Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3) =>
        GgmlSimd.ReduceAdd((a0 + a2) + (a1 + a3));
}
