using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The micro-kernel of the tiled F16 matmul for batches where ggml's SIMD width is 8 (AVX2): 2 weight rows,
/// widened in advance (<see cref="F16WidenedRows"/>), × <typeparamref name="TTokens"/> tokens of an
/// <see cref="F16ActivationPanel"/> (up to 6: 12 accumulators, 2 weight vectors and an activation in registers).
/// Each (row, token) gets exactly <see cref="GgmlFloatDot.VecDotF16"/>'s arithmetic: its four 8-lane accumulators
/// (accumulator j sums elements 32s + 8j .. 32s + 8j + 7 over the steps s, one FMA per step, in step order) and
/// <c>ReduceAddHadd((a0 + a2) + (a1 + a3))</c>. The four accumulators are independent chains, so the kernel runs them one
/// after the other (one pass per j) and needs one register per (row, token) instead of four: that is what lets
/// one widened weight vector feed several tokens and one loaded activation several rows.
/// </summary>
internal static unsafe class F16RowTileAvx2
{
    public const int Rows = 2;
    public const int MaxTokens = 6;

    /// <summary>
    /// The reduced vector sums of rows <paramref name="w"/> (widened, <paramref name="stride"/> floats apart) with
    /// tokens <paramref name="t0"/>.. of the panel: row r, token k into <c>results[r * MaxTokens + k]</c>, to be
    /// finished by <see cref="GgmlFloatDot.FinishWidened"/> from <paramref name="vectorEnd"/>.
    /// </summary>
    // SkipLocalsInit: the partial sums are written before they are read; zeroing them cost a memset per call.
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    public static void Tile<TTokens>(float* w, int stride, in F16ActivationPanel panel, int t0, int vectorEnd, float* results)
        where TTokens : ITileCount
    {
        Vector256<float>* a0 = stackalloc Vector256<float>[12];
        Vector256<float>* a1 = stackalloc Vector256<float>[12];
        Vector256<float>* a2 = stackalloc Vector256<float>[12];
        // (a0 + a2) + (a1 + a3): passes 0 and 2 first and summed in place, then 1 and 3 into the other two buffers.
        Pass<TTokens>(w, stride, panel, t0, 0, vectorEnd, a0);
        Pass<TTokens>(w, stride, panel, t0, 16, vectorEnd, a1);
        for (int r = 0; r < 2; r++)
            for (int k = r * MaxTokens; k < r * MaxTokens + TTokens.Count; k++) a0[k] += a1[k];
        Pass<TTokens>(w, stride, panel, t0, 8, vectorEnd, a1);
        Pass<TTokens>(w, stride, panel, t0, 24, vectorEnd, a2);
        for (int r = 0; r < 2; r++)
            for (int k = 0; k < TTokens.Count; k++)
                results[r * MaxTokens + k] = GgmlSimd.ReduceAddHadd(a0[r * MaxTokens + k] + (a1[r * MaxTokens + k] + a2[r * MaxTokens + k]));
    }

    /// <summary>
    /// One accumulator chain for every (row, token): elements <paramref name="offset"/> .. +7 of each 32-element step
    /// up to <paramref name="vectorEnd"/>; the sums go to <c>dst[r * MaxTokens + k]</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pass<TTokens>(float* w, int stride, in F16ActivationPanel panel, int t0, int offset, int vectorEnd, Vector256<float>* dst)
        where TTokens : ITileCount
    {
        float* w0 = w + offset;
        float* w1 = w + 1 * stride + offset;
        float* y0 = panel.Row(t0) + offset;
        float* y1 = TTokens.Count > 1 ? panel.Row(t0 + 1) + offset : y0;
        float* y2 = TTokens.Count > 2 ? panel.Row(t0 + 2) + offset : y0;
        float* y3 = TTokens.Count > 3 ? panel.Row(t0 + 3) + offset : y0;
        float* y4 = TTokens.Count > 4 ? panel.Row(t0 + 4) + offset : y0;
        float* y5 = TTokens.Count > 5 ? panel.Row(t0 + 5) + offset : y0;
        // c<row><token>
        Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default, c04 = default, c05 = default;
        Vector256<float> c10 = default, c11 = default, c12 = default, c13 = default, c14 = default, c15 = default;
        for (nint i = 0; i < vectorEnd - offset; i += 32)
        {
            Vector256<float> x0 = Vector256.Load(w0 + i), x1 = Vector256.Load(w1 + i);
            {
                Vector256<float> y = Vector256.Load(y0 + i);
                c00 = Vector256.FusedMultiplyAdd(x0, y, c00);
                c10 = Vector256.FusedMultiplyAdd(x1, y, c10);
            }
            if (TTokens.Count > 1) {
                Vector256<float> y = Vector256.Load(y1 + i);
                c01 = Vector256.FusedMultiplyAdd(x0, y, c01);
                c11 = Vector256.FusedMultiplyAdd(x1, y, c11);
            }
            if (TTokens.Count > 2) {
                Vector256<float> y = Vector256.Load(y2 + i);
                c02 = Vector256.FusedMultiplyAdd(x0, y, c02);
                c12 = Vector256.FusedMultiplyAdd(x1, y, c12);
            }
            if (TTokens.Count > 3) {
                Vector256<float> y = Vector256.Load(y3 + i);
                c03 = Vector256.FusedMultiplyAdd(x0, y, c03);
                c13 = Vector256.FusedMultiplyAdd(x1, y, c13);
            }
            if (TTokens.Count > 4) {
                Vector256<float> y = Vector256.Load(y4 + i);
                c04 = Vector256.FusedMultiplyAdd(x0, y, c04);
                c14 = Vector256.FusedMultiplyAdd(x1, y, c14);
            }
            if (TTokens.Count > 5) {
                Vector256<float> y = Vector256.Load(y5 + i);
                c05 = Vector256.FusedMultiplyAdd(x0, y, c05);
                c15 = Vector256.FusedMultiplyAdd(x1, y, c15);
            }
        }
        dst[0] = c00;
        if (TTokens.Count > 1) dst[1] = c01;
        if (TTokens.Count > 2) dst[2] = c02;
        if (TTokens.Count > 3) dst[3] = c03;
        if (TTokens.Count > 4) dst[4] = c04;
        if (TTokens.Count > 5) dst[5] = c05;
        dst[6] = c10;
        if (TTokens.Count > 1) dst[7] = c11;
        if (TTokens.Count > 2) dst[8] = c12;
        if (TTokens.Count > 3) dst[9] = c13;
        if (TTokens.Count > 4) dst[10] = c14;
        if (TTokens.Count > 5) dst[11] = c15;
    }
}
