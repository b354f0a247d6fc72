using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The micro-kernel of the tiled F16 matmul where ggml's SIMD width is 8 (AVX2): one weight row ×
/// <typeparamref name="TTokens"/> tokens (up to three: 12 accumulators of the 16 registers), each token with exactly
/// <see cref="GgmlFloatDot.VecDotF16"/>'s 8-lane arithmetic (four accumulators over 32-element steps,
/// <c>ReduceAddHadd</c>, double tail, plain-sum fallback). See <see cref="F16TileAvx512"/>.
/// </summary>
internal static unsafe class F16TileAvx2
{
    /// <inheritdoc cref="F16TileAvx512.Tile{TTokens}"/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool Tile<TTokens>(ushort* w, in F16ActivationPanel panel, int t0, float* results)
        where TTokens : ITileCount
    {
        int n = panel.Cols;
        float* y0 = panel.Row(t0);
        float* y1 = TTokens.Count > 1 ? panel.Row(t0 + 1) : y0;
        float* y2 = TTokens.Count > 2 ? panel.Row(t0 + 2) : y0;
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector256<uint> magnitude = default;
        ref ushort wr = ref *w;
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            // Plain statements, not a helper taking the accumulators by ref (see F16TileAvx512).
            Vector256<float> x0 = GgmlFloatDot.Half8(ref wr, i, ref magnitude);
            a00 = Vector256.FusedMultiplyAdd(x0, Vector256.Load(y0 + i), a00);
            if (TTokens.Count > 1) a10 = Vector256.FusedMultiplyAdd(x0, Vector256.Load(y1 + i), a10);
            if (TTokens.Count > 2) a20 = Vector256.FusedMultiplyAdd(x0, Vector256.Load(y2 + i), a20);
            Vector256<float> x1 = GgmlFloatDot.Half8(ref wr, i + 8, ref magnitude);
            a01 = Vector256.FusedMultiplyAdd(x1, Vector256.Load(y0 + i + 8), a01);
            if (TTokens.Count > 1) a11 = Vector256.FusedMultiplyAdd(x1, Vector256.Load(y1 + i + 8), a11);
            if (TTokens.Count > 2) a21 = Vector256.FusedMultiplyAdd(x1, Vector256.Load(y2 + i + 8), a21);
            Vector256<float> x2 = GgmlFloatDot.Half8(ref wr, i + 16, ref magnitude);
            a02 = Vector256.FusedMultiplyAdd(x2, Vector256.Load(y0 + i + 16), a02);
            if (TTokens.Count > 1) a12 = Vector256.FusedMultiplyAdd(x2, Vector256.Load(y1 + i + 16), a12);
            if (TTokens.Count > 2) a22 = Vector256.FusedMultiplyAdd(x2, Vector256.Load(y2 + i + 16), a22);
            Vector256<float> x3 = GgmlFloatDot.Half8(ref wr, i + 24, ref magnitude);
            a03 = Vector256.FusedMultiplyAdd(x3, Vector256.Load(y0 + i + 24), a03);
            if (TTokens.Count > 1) a13 = Vector256.FusedMultiplyAdd(x3, Vector256.Load(y1 + i + 24), a13);
            if (TTokens.Count > 2) a23 = Vector256.FusedMultiplyAdd(x3, Vector256.Load(y2 + i + 24), a23);
        }
        // Only the vector sums here: no calls in this method, because zmm/ymm registers do not survive a
        // call and accumulators live across one were stored to the stack at every FMA of the loop.
        results[0] = Reduce(a00, a01, a02, a03);
        if (TTokens.Count > 1) results[1] = Reduce(a10, a11, a12, a13);
        if (TTokens.Count > 2) results[2] = Reduce(a20, a21, a22, a23);
        return Vector256.GreaterThanOrEqualAny(magnitude, Vector256.Create(0x7C00u));
    }

    /// <summary><see cref="GgmlFloatDot.VecDotF16"/>'s 8-lane reduction of its four accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Reduce(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3) =>
        GgmlSimd.ReduceAddHadd((a0 + a2) + (a1 + a3));
}
