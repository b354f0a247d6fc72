using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The micro-kernel of the tiled F16 matmul for batches where ggml's SIMD width is 16 (AVX-512): 4 weight rows,
/// widened in advance (<see cref="F16WidenedRows"/>), × <typeparamref name="TTokens"/> tokens of an
/// <see cref="F16ActivationPanel"/> (up to 6: 24 accumulators, 4 weight vectors and an activation in registers).
/// Each (row, token) gets exactly <see cref="GgmlFloatDot.VecDotF16"/>'s arithmetic: its four 16-lane accumulators
/// (accumulator j sums elements 64s + 16j .. 64s + 16j + 15 over the steps s, one FMA per step, in step order) and
/// <c>ReduceAdd((a0 + a2) + (a1 + a3))</c>. The four accumulators are independent chains, so the kernel runs them one
/// after the other (one pass per j) and needs one register per (row, token) instead of four: that is what lets
/// one widened weight vector feed several tokens and one loaded activation several rows. Each pass folds its chain
/// into the sums as it ends (<see cref="IF16AccumulatorSink"/>), and the 24 sums are reduced together
/// (<see cref="TransposedReduce"/>) instead of one horizontal sum each.
/// </summary>
internal static unsafe class F16RowTileAvx512
{
    public const int Rows = 4;
    public const int MaxTokens = 6;

    /// <summary>
    /// The reduced vector sums of rows <paramref name="w"/> (widened, <paramref name="stride"/> floats apart) with
    /// tokens <paramref name="t0"/>.. of the panel, token-major: row r, token k into <c>results[k * Rows + r]</c>
    /// (16 or 32 floats written), to be finished by <see cref="GgmlFloatDot.FinishWidened"/> from <paramref name="vectorEnd"/>.
    /// </summary>
    // SkipLocalsInit: the partial sums are written before they are read (slots of missing tokens are reduced into
    // result lanes nobody reads); zeroing them cost a memset per call.
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    public static void Tile<TTokens>(float* w, int stride, in F16ActivationPanel panel, int t0, int vectorEnd, float* results)
        where TTokens : ITileCount
    {
        // Slot k * Rows + r: the token-major order the reduction leaves its lanes in.
        Vector512<float>* sums = stackalloc Vector512<float>[Rows * 8];
        Vector512<float>* odd = stackalloc Vector512<float>[Rows * 8];
        Pass<TTokens, F16Accumulator0>(w, stride, panel, t0, 0, vectorEnd, sums, odd);
        Pass<TTokens, F16Accumulator2>(w, stride, panel, t0, 32, vectorEnd, sums, odd);
        Pass<TTokens, F16Accumulator1>(w, stride, panel, t0, 16, vectorEnd, sums, odd);
        Pass<TTokens, F16Accumulator3>(w, stride, panel, t0, 48, vectorEnd, sums, odd);
        Vector512.Store(TransposedReduce.ReduceAdd16(sums), results);
        if (TTokens.Count > 4)
            Vector512.Store(TransposedReduce.ReduceAdd8(sums + 16), results + 16);
    }

    /// <summary>
    /// One accumulator chain for every (row, token): elements <paramref name="offset"/> .. +15 of each 64-element step
    /// up to <paramref name="vectorEnd"/>; each chain goes to slot <c>k * Rows + r</c> through <typeparamref name="TSink"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pass<TTokens, TSink>(float* w, int stride, in F16ActivationPanel panel, int t0, int offset, int vectorEnd,
        Vector512<float>* sums, Vector512<float>* odd)
        where TTokens : ITileCount where TSink : IF16AccumulatorSink
    {
        float* w0 = w + offset;
        float* w1 = w + 1 * stride + offset;
        float* w2 = w + 2 * stride + offset;
        float* w3 = w + 3 * stride + offset;
        float* y0 = panel.Row(t0) + offset;
        float* y1 = TTokens.Count > 1 ? panel.Row(t0 + 1) + offset : y0;
        float* y2 = TTokens.Count > 2 ? panel.Row(t0 + 2) + offset : y0;
        float* y3 = TTokens.Count > 3 ? panel.Row(t0 + 3) + offset : y0;
        float* y4 = TTokens.Count > 4 ? panel.Row(t0 + 4) + offset : y0;
        float* y5 = TTokens.Count > 5 ? panel.Row(t0 + 5) + offset : y0;
        // c<row><token>
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default, c04 = default, c05 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default, c14 = default, c15 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default, c24 = default, c25 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default, c34 = default, c35 = default;
        // The bound in a local: computed in the condition it cost three instructions per step and a spilled row pointer.
        nint end = vectorEnd - offset;
        for (nint i = 0; i < end; i += 64)
        {
            Vector512<float> x0 = Vector512.Load(w0 + i), x1 = Vector512.Load(w1 + i), x2 = Vector512.Load(w2 + i), x3 = Vector512.Load(w3 + i);
            {
                Vector512<float> y = Vector512.Load(y0 + i);
                c00 = Vector512.FusedMultiplyAdd(x0, y, c00);
                c10 = Vector512.FusedMultiplyAdd(x1, y, c10);
                c20 = Vector512.FusedMultiplyAdd(x2, y, c20);
                c30 = Vector512.FusedMultiplyAdd(x3, y, c30);
            }
            if (TTokens.Count > 1) {
                Vector512<float> y = Vector512.Load(y1 + i);
                c01 = Vector512.FusedMultiplyAdd(x0, y, c01);
                c11 = Vector512.FusedMultiplyAdd(x1, y, c11);
                c21 = Vector512.FusedMultiplyAdd(x2, y, c21);
                c31 = Vector512.FusedMultiplyAdd(x3, y, c31);
            }
            if (TTokens.Count > 2) {
                Vector512<float> y = Vector512.Load(y2 + i);
                c02 = Vector512.FusedMultiplyAdd(x0, y, c02);
                c12 = Vector512.FusedMultiplyAdd(x1, y, c12);
                c22 = Vector512.FusedMultiplyAdd(x2, y, c22);
                c32 = Vector512.FusedMultiplyAdd(x3, y, c32);
            }
            if (TTokens.Count > 3) {
                Vector512<float> y = Vector512.Load(y3 + i);
                c03 = Vector512.FusedMultiplyAdd(x0, y, c03);
                c13 = Vector512.FusedMultiplyAdd(x1, y, c13);
                c23 = Vector512.FusedMultiplyAdd(x2, y, c23);
                c33 = Vector512.FusedMultiplyAdd(x3, y, c33);
            }
            if (TTokens.Count > 4) {
                Vector512<float> y = Vector512.Load(y4 + i);
                c04 = Vector512.FusedMultiplyAdd(x0, y, c04);
                c14 = Vector512.FusedMultiplyAdd(x1, y, c14);
                c24 = Vector512.FusedMultiplyAdd(x2, y, c24);
                c34 = Vector512.FusedMultiplyAdd(x3, y, c34);
            }
            if (TTokens.Count > 5) {
                Vector512<float> y = Vector512.Load(y5 + i);
                c05 = Vector512.FusedMultiplyAdd(x0, y, c05);
                c15 = Vector512.FusedMultiplyAdd(x1, y, c15);
                c25 = Vector512.FusedMultiplyAdd(x2, y, c25);
                c35 = Vector512.FusedMultiplyAdd(x3, y, c35);
            }
        }
        TSink.Put(sums, odd, 0, c00);
        if (TTokens.Count > 1) TSink.Put(sums, odd, 4, c01);
        if (TTokens.Count > 2) TSink.Put(sums, odd, 8, c02);
        if (TTokens.Count > 3) TSink.Put(sums, odd, 12, c03);
        if (TTokens.Count > 4) TSink.Put(sums, odd, 16, c04);
        if (TTokens.Count > 5) TSink.Put(sums, odd, 20, c05);
        TSink.Put(sums, odd, 1, c10);
        if (TTokens.Count > 1) TSink.Put(sums, odd, 5, c11);
        if (TTokens.Count > 2) TSink.Put(sums, odd, 9, c12);
        if (TTokens.Count > 3) TSink.Put(sums, odd, 13, c13);
        if (TTokens.Count > 4) TSink.Put(sums, odd, 17, c14);
        if (TTokens.Count > 5) TSink.Put(sums, odd, 21, c15);
        TSink.Put(sums, odd, 2, c20);
        if (TTokens.Count > 1) TSink.Put(sums, odd, 6, c21);
        if (TTokens.Count > 2) TSink.Put(sums, odd, 10, c22);
        if (TTokens.Count > 3) TSink.Put(sums, odd, 14, c23);
        if (TTokens.Count > 4) TSink.Put(sums, odd, 18, c24);
        if (TTokens.Count > 5) TSink.Put(sums, odd, 22, c25);
        TSink.Put(sums, odd, 3, c30);
        if (TTokens.Count > 1) TSink.Put(sums, odd, 7, c31);
        if (TTokens.Count > 2) TSink.Put(sums, odd, 11, c32);
        if (TTokens.Count > 3) TSink.Put(sums, odd, 15, c33);
        if (TTokens.Count > 4) TSink.Put(sums, odd, 19, c34);
        if (TTokens.Count > 5) TSink.Put(sums, odd, 23, c35);
    }
}
