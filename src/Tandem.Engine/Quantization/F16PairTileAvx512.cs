using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The micro-kernel of the F16 matmul for batches of a few tokens where ggml's SIMD width is 16 (AVX-512 BW): two
/// weight rows × up to six tokens of an <see cref="F16UnpackedPanel"/>, the weights widened in registers by unpacking
/// (as <see cref="F16GemvAvx512"/>: a 32-element load, two unpacks against zero, a shift and a mask each), so no
/// widened copy of the rows is written and read back as <see cref="F16RowTileAvx512"/>'s blocks are (at 16 tokens that
/// copy cost about a quarter of the matmul). Each (row, token) gets exactly <see cref="GgmlFloatDot.VecDotF16"/>'s
/// arithmetic: ggml's four accumulators are independent chains over the 64-element steps, so the kernel runs them in two
/// halves of two (elements 0..31 of each step, then 32..63), each a pair of registers whose lanes are ggml's lanes in
/// unpack order, over chunks of columns; a pass stores its registers (<see cref="StateVectors"/> per pair) and the next
/// pass over the same half continues from them, so a chain sums its steps in the same order as one unbroken loop.
/// <see cref="Finish{TTokens}"/> adds the halves lane by lane (a0 + a2 and a1 + a3 in the same lanes), puts them back in
/// ggml's lane order and reduces them (<see cref="TransposedReduce"/>): bit-identical to the dot's
/// <c>ReduceAdd((a0 + a2) + (a1 + a3))</c>. 24 accumulators, four widened weight vectors and two activations in registers.
/// </summary>
internal static unsafe class F16PairTileAvx512
{
    public const int Rows = 2;
    public const int MaxTokens = 6;

    /// <summary>Vectors of one pair's chains: two halves × (token k, row r) slots 2k + r × low and high register.</summary>
    public const int StateVectors = 2 * 2 * Rows * MaxTokens;

    /// <summary>
    /// Half <paramref name="offset"/> / 32 of rows <paramref name="wa"/> and <paramref name="wb"/> × tokens
    /// <paramref name="t0"/>.. over the 64-element steps from <paramref name="begin"/> to <paramref name="end"/>: the chains
    /// start at zero when <paramref name="first"/>, else from <paramref name="state"/>, and are stored back there. Returns
    /// bit r set where row r's elements read here hold an F16 inf/NaN. <paramref name="prefetch"/> steps once per step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Pass<TTokens>(ushort* wa, ushort* wb, in F16UnpackedPanel panel, int t0, int offset, int begin, int end,
        Vector512<float>* state, bool first, ref SpreadPrefetch prefetch)
        where TTokens : ITileCount
    {
        state += offset / 32 * (StateVectors / 2);
        ushort* pa = wa + offset + begin, pb = wb + offset + begin;
        float* y0 = panel.Row(t0) + offset + begin;
        float* y1 = TTokens.Count > 1 ? panel.Row(t0 + 1) + offset + begin : y0;
        float* y2 = TTokens.Count > 2 ? panel.Row(t0 + 2) + offset + begin : y0;
        float* y3 = TTokens.Count > 3 ? panel.Row(t0 + 3) + offset + begin : y0;
        float* y4 = TTokens.Count > 4 ? panel.Row(t0 + 4) + offset + begin : y0;
        float* y5 = TTokens.Count > 5 ? panel.Row(t0 + 5) + offset + begin : y0;
        // l/h: low/high unpack register; a/b: row; digit: token.
        Vector512<float> la0 = default, ha0 = default, lb0 = default, hb0 = default;
        Vector512<float> la1 = default, ha1 = default, lb1 = default, hb1 = default;
        Vector512<float> la2 = default, ha2 = default, lb2 = default, hb2 = default;
        Vector512<float> la3 = default, ha3 = default, lb3 = default, hb3 = default;
        Vector512<float> la4 = default, ha4 = default, lb4 = default, hb4 = default;
        Vector512<float> la5 = default, ha5 = default, lb5 = default, hb5 = default;
        if (!first)
        {
            { la0 = state[0]; ha0 = state[1]; lb0 = state[2]; hb0 = state[3]; }
            if (TTokens.Count > 1) { la1 = state[4]; ha1 = state[5]; lb1 = state[6]; hb1 = state[7]; }
            if (TTokens.Count > 2) { la2 = state[8]; ha2 = state[9]; lb2 = state[10]; hb2 = state[11]; }
            if (TTokens.Count > 3) { la3 = state[12]; ha3 = state[13]; lb3 = state[14]; hb3 = state[15]; }
            if (TTokens.Count > 4) { la4 = state[16]; ha4 = state[17]; lb4 = state[18]; hb4 = state[19]; }
            if (TTokens.Count > 5) { la5 = state[20]; ha5 = state[21]; lb5 = state[22]; hb5 = state[23]; }
        }
        Vector512<ushort> magnitudeA = default, magnitudeB = default;
        nint length = end - begin;
        for (nint i = 0; i < length; i += 64)
        {
            prefetch.Step();
            Vector512<ushort> h = Vector512.Load(pa + i);
            magnitudeA = Vector512.Max(magnitudeA, h & Vector512.Create((ushort)0x7FFF));
            Vector512<float> xal = F16GemvAvx512.WidenLow(h), xah = F16GemvAvx512.WidenHigh(h);
            h = Vector512.Load(pb + i);
            magnitudeB = Vector512.Max(magnitudeB, h & Vector512.Create((ushort)0x7FFF));
            Vector512<float> xbl = F16GemvAvx512.WidenLow(h), xbh = F16GemvAvx512.WidenHigh(h);
            {
                Vector512<float> yl = Vector512.Load(y0 + i), yh = Vector512.Load(y0 + i + 16);
                la0 = Vector512.FusedMultiplyAdd(xal, yl, la0); ha0 = Vector512.FusedMultiplyAdd(xah, yh, ha0);
                lb0 = Vector512.FusedMultiplyAdd(xbl, yl, lb0); hb0 = Vector512.FusedMultiplyAdd(xbh, yh, hb0);
            }
            if (TTokens.Count > 1) {
                Vector512<float> yl = Vector512.Load(y1 + i), yh = Vector512.Load(y1 + i + 16);
                la1 = Vector512.FusedMultiplyAdd(xal, yl, la1); ha1 = Vector512.FusedMultiplyAdd(xah, yh, ha1);
                lb1 = Vector512.FusedMultiplyAdd(xbl, yl, lb1); hb1 = Vector512.FusedMultiplyAdd(xbh, yh, hb1);
            }
            if (TTokens.Count > 2) {
                Vector512<float> yl = Vector512.Load(y2 + i), yh = Vector512.Load(y2 + i + 16);
                la2 = Vector512.FusedMultiplyAdd(xal, yl, la2); ha2 = Vector512.FusedMultiplyAdd(xah, yh, ha2);
                lb2 = Vector512.FusedMultiplyAdd(xbl, yl, lb2); hb2 = Vector512.FusedMultiplyAdd(xbh, yh, hb2);
            }
            if (TTokens.Count > 3) {
                Vector512<float> yl = Vector512.Load(y3 + i), yh = Vector512.Load(y3 + i + 16);
                la3 = Vector512.FusedMultiplyAdd(xal, yl, la3); ha3 = Vector512.FusedMultiplyAdd(xah, yh, ha3);
                lb3 = Vector512.FusedMultiplyAdd(xbl, yl, lb3); hb3 = Vector512.FusedMultiplyAdd(xbh, yh, hb3);
            }
            if (TTokens.Count > 4) {
                Vector512<float> yl = Vector512.Load(y4 + i), yh = Vector512.Load(y4 + i + 16);
                la4 = Vector512.FusedMultiplyAdd(xal, yl, la4); ha4 = Vector512.FusedMultiplyAdd(xah, yh, ha4);
                lb4 = Vector512.FusedMultiplyAdd(xbl, yl, lb4); hb4 = Vector512.FusedMultiplyAdd(xbh, yh, hb4);
            }
            if (TTokens.Count > 5) {
                Vector512<float> yl = Vector512.Load(y5 + i), yh = Vector512.Load(y5 + i + 16);
                la5 = Vector512.FusedMultiplyAdd(xal, yl, la5); ha5 = Vector512.FusedMultiplyAdd(xah, yh, ha5);
                lb5 = Vector512.FusedMultiplyAdd(xbl, yl, lb5); hb5 = Vector512.FusedMultiplyAdd(xbh, yh, hb5);
            }
        }
        { state[0] = la0; state[1] = ha0; state[2] = lb0; state[3] = hb0; }
        if (TTokens.Count > 1) { state[4] = la1; state[5] = ha1; state[6] = lb1; state[7] = hb1; }
        if (TTokens.Count > 2) { state[8] = la2; state[9] = ha2; state[10] = lb2; state[11] = hb2; }
        if (TTokens.Count > 3) { state[12] = la3; state[13] = ha3; state[14] = lb3; state[15] = hb3; }
        if (TTokens.Count > 4) { state[16] = la4; state[17] = ha4; state[18] = lb4; state[19] = hb4; }
        if (TTokens.Count > 5) { state[20] = la5; state[21] = ha5; state[22] = lb5; state[23] = hb5; }
        int specials = Vector512.GreaterThanOrEqualAny(magnitudeA, Vector512.Create((ushort)0x7C00)) ? 1 : 0;
        return Vector512.GreaterThanOrEqualAny(magnitudeB, Vector512.Create((ushort)0x7C00)) ? specials | 2 : specials;
    }

    /// <summary>
    /// The reduced vector sums of a pair whose two halves have run to the end of the vector part: token k, row r into
    /// <c>results[2k + r]</c> (16 floats written), to be finished by <see cref="GgmlFloatDot.FinishWidened"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    public static void Finish<TTokens>(Vector512<float>* state, float* results) where TTokens : ITileCount
    {
        // Slots of missing tokens are reduced from stale lanes into results nobody reads.
        Vector512<float>* sums = stackalloc Vector512<float>[16];
        // Element e of a 32-element chunk sits in the low register (e % 8 < 4) or the high one, at lane 4 (e / 8) + e % 4.
        Vector512<int> firstLanes = Vector512.Create(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
        Vector512<int> secondLanes = Vector512.Create(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
        for (int slot = 0; slot < Rows * TTokens.Count; slot++)
        {
            Vector512<float> u = state[2 * slot] + state[StateVectors / 2 + 2 * slot];
            Vector512<float> v = state[2 * slot + 1] + state[StateVectors / 2 + 2 * slot + 1];
            sums[slot] = Avx512F.PermuteVar16x32x2(u, firstLanes, v) + Avx512F.PermuteVar16x32x2(u, secondLanes, v);
        }
        Vector512.Store(TransposedReduce.ReduceAdd16(sums), results);
    }
}
