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
/// one widened weight vector feed several tokens and one loaded activation several rows. Each pass folds its chain
/// into the sums as it ends (<see cref="IF16AccumulatorSink"/>), and the 12 sums are reduced eight at a time
/// (<see cref="TransposedReduce"/>).
/// </summary>
internal static unsafe class F16RowTileAvx2
{
    public const int Rows = 2;
    public const int MaxTokens = 6;

    /// <summary>
    /// The reduced vector sums of rows <paramref name="w"/> (widened, <paramref name="stride"/> floats apart) with
    /// tokens <paramref name="t0"/>.. of the panel, token-major: row r, token k into <c>results[k * Rows + r]</c>
    /// (8 or 16 floats written), to be finished by <see cref="GgmlFloatDot.FinishWidened"/> from <paramref name="vectorEnd"/>.
    /// </summary>
    // SkipLocalsInit: the partial sums are written before they are read (slots of missing tokens are reduced into
    // result lanes nobody reads); zeroing them cost a memset per call.
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    public static void Tile<TTokens>(float* w, int stride, in F16ActivationPanel panel, int t0, int vectorEnd, float* results)
        where TTokens : ITileCount
    {
        // Slot k * Rows + r: the token-major order the reduction leaves its lanes in.
        Vector256<float>* sums = stackalloc Vector256<float>[Rows * 8];
        Vector256<float>* odd = stackalloc Vector256<float>[Rows * 8];
        Pass<TTokens, F16Accumulator0>(w, stride, panel, t0, 0, vectorEnd, sums, odd);
        Pass<TTokens, F16Accumulator2>(w, stride, panel, t0, 16, vectorEnd, sums, odd);
        Pass<TTokens, F16Accumulator1>(w, stride, panel, t0, 8, vectorEnd, sums, odd);
        Pass<TTokens, F16Accumulator3>(w, stride, panel, t0, 24, vectorEnd, sums, odd);
        Vector256.Store(TransposedReduce.ReduceAddHadd8(sums), results);
        if (TTokens.Count > 4)
            Vector256.Store(TransposedReduce.ReduceAddHadd8(sums + 8), results + 8);
    }

    /// <summary>
    /// One accumulator chain for every (row, token): elements <paramref name="offset"/> .. +7 of each 32-element step
    /// up to <paramref name="vectorEnd"/>; each chain goes to slot <c>k * Rows + r</c> through <typeparamref name="TSink"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pass<TTokens, TSink>(float* w, int stride, in F16ActivationPanel panel, int t0, int offset, int vectorEnd,
        Vector256<float>* sums, Vector256<float>* odd)
        where TTokens : ITileCount where TSink : IF16AccumulatorSink
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
        // The bound in a local: computed in the condition it cost three instructions per step and a spilled row pointer.
        nint end = vectorEnd - offset;
        for (nint i = 0; i < end; i += 32)
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
        TSink.Put(sums, odd, 0, c00);
        if (TTokens.Count > 1) TSink.Put(sums, odd, 2, c01);
        if (TTokens.Count > 2) TSink.Put(sums, odd, 4, c02);
        if (TTokens.Count > 3) TSink.Put(sums, odd, 6, c03);
        if (TTokens.Count > 4) TSink.Put(sums, odd, 8, c04);
        if (TTokens.Count > 5) TSink.Put(sums, odd, 10, c05);
        TSink.Put(sums, odd, 1, c10);
        if (TTokens.Count > 1) TSink.Put(sums, odd, 3, c11);
        if (TTokens.Count > 2) TSink.Put(sums, odd, 5, c12);
        if (TTokens.Count > 3) TSink.Put(sums, odd, 7, c13);
        if (TTokens.Count > 4) TSink.Put(sums, odd, 9, c14);
        if (TTokens.Count > 5) TSink.Put(sums, odd, 11, c15);
    }
}
