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
/// passes of two (elements 0..31 of each step, then 32..63), each a pair of registers whose lanes are ggml's lanes in
/// unpack order; the passes' registers are added lane by lane (a0 + a2 and a1 + a3 in the same lanes), put back in
/// ggml's lane order and reduced (<see cref="TransposedReduce"/>): bit-identical to the dot's
/// <c>ReduceAdd((a0 + a2) + (a1 + a3))</c>. 24 accumulators, four widened weight vectors and two activations in registers.
/// </summary>
internal static unsafe class F16PairTileAvx512
{
    public const int Rows = 2;
    public const int MaxTokens = 6;

    /// <summary>
    /// The vector parts of rows <paramref name="wa"/> and <paramref name="wb"/> dotted with tokens <paramref name="t0"/>..
    /// of the panel: token k, row r into <c>results[2k + r]</c> (16 floats written), to be finished by
    /// <see cref="GgmlFloatDot.FinishWidened"/>; returns bit r set where row r's vector part holds an F16 inf/NaN.
    /// <paramref name="prefetch"/> steps once per 64 columns of each pass.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    public static int Pair<TTokens>(ushort* wa, ushort* wb, in F16UnpackedPanel panel, int t0, int vectorEnd, float* results,
        ref SpreadPrefetch prefetch)
        where TTokens : ITileCount
    {
        // The first pass's registers wait here, slot 2k + r low then high; the sums of slots 0..15 are reduced together.
        Vector512<float>* halves = stackalloc Vector512<float>[4 * MaxTokens];
        Vector512<float>* sums = stackalloc Vector512<float>[16];
        int specials = Pass<TTokens, FirstPass>(wa, wb, panel, t0, 0, vectorEnd, halves, sums, ref prefetch);
        specials |= Pass<TTokens, SecondPass>(wa, wb, panel, t0, 32, vectorEnd, halves, sums, ref prefetch);
        Vector512.Store(TransposedReduce.ReduceAdd16(sums), results);
        return specials;
    }

    /// <summary>Which of the two passes runs: the first stores its registers, the second adds them and forms the sums.</summary>
    private interface IPass { static abstract bool Second { get; } }

    private readonly struct FirstPass : IPass { public static bool Second => false; }

    private readonly struct SecondPass : IPass { public static bool Second => true; }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Pass<TTokens, TSecond>(ushort* wa, ushort* wb, in F16UnpackedPanel panel, int t0, int offset, int vectorEnd,
        Vector512<float>* halves, Vector512<float>* sums, ref SpreadPrefetch prefetch)
        where TTokens : ITileCount where TSecond : IPass
    {
        ushort* pa = wa + offset, pb = wb + offset;
        float* y0 = panel.Row(t0) + offset;
        float* y1 = TTokens.Count > 1 ? panel.Row(t0 + 1) + offset : y0;
        float* y2 = TTokens.Count > 2 ? panel.Row(t0 + 2) + offset : y0;
        float* y3 = TTokens.Count > 3 ? panel.Row(t0 + 3) + offset : y0;
        float* y4 = TTokens.Count > 4 ? panel.Row(t0 + 4) + offset : y0;
        float* y5 = TTokens.Count > 5 ? panel.Row(t0 + 5) + offset : y0;
        // l/h: low/high unpack register; a/b: row; digit: token.
        Vector512<float> la0 = default, ha0 = default, lb0 = default, hb0 = default;
        Vector512<float> la1 = default, ha1 = default, lb1 = default, hb1 = default;
        Vector512<float> la2 = default, ha2 = default, lb2 = default, hb2 = default;
        Vector512<float> la3 = default, ha3 = default, lb3 = default, hb3 = default;
        Vector512<float> la4 = default, ha4 = default, lb4 = default, hb4 = default;
        Vector512<float> la5 = default, ha5 = default, lb5 = default, hb5 = default;
        Vector512<ushort> magnitudeA = default, magnitudeB = default;
        nint end = vectorEnd;
        for (nint i = 0; i < end; i += 64)
        {
            prefetch.Step();
            Vector512<ushort> h = Vector512.Load(pa + i);
            magnitudeA = Vector512.Max(magnitudeA, h & Vector512.Create((ushort)0x7FFF));
            Vector512<float> xal = WidenLow(h), xah = WidenHigh(h);
            h = Vector512.Load(pb + i);
            magnitudeB = Vector512.Max(magnitudeB, h & Vector512.Create((ushort)0x7FFF));
            Vector512<float> xbl = WidenLow(h), xbh = WidenHigh(h);
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
        // No calls above: zmm registers do not survive one (see F16TileAvx512).
        { Finish<TSecond>(halves, sums, 0, la0, ha0); Finish<TSecond>(halves, sums, 1, lb0, hb0); }
        if (TTokens.Count > 1) { Finish<TSecond>(halves, sums, 2, la1, ha1); Finish<TSecond>(halves, sums, 3, lb1, hb1); }
        if (TTokens.Count > 2) { Finish<TSecond>(halves, sums, 4, la2, ha2); Finish<TSecond>(halves, sums, 5, lb2, hb2); }
        if (TTokens.Count > 3) { Finish<TSecond>(halves, sums, 6, la3, ha3); Finish<TSecond>(halves, sums, 7, lb3, hb3); }
        if (TTokens.Count > 4) { Finish<TSecond>(halves, sums, 8, la4, ha4); Finish<TSecond>(halves, sums, 9, lb4, hb4); }
        if (TTokens.Count > 5) { Finish<TSecond>(halves, sums, 10, la5, ha5); Finish<TSecond>(halves, sums, 11, lb5, hb5); }
        int specials = Vector512.GreaterThanOrEqualAny(magnitudeA, Vector512.Create((ushort)0x7C00)) ? 1 : 0;
        return Vector512.GreaterThanOrEqualAny(magnitudeB, Vector512.Create((ushort)0x7C00)) ? specials | 2 : specials;
    }

    /// <summary>
    /// The first pass stores slot <paramref name="slot"/>'s low and high registers; the second adds its own to them lane
    /// by lane (ggml's a0 + a2 and a1 + a3, in unpack order) and stores that slot's sum in ggml's lane order,
    /// (a0 + a2) + (a1 + a3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish<TSecond>(Vector512<float>* halves, Vector512<float>* sums, int slot, Vector512<float> low, Vector512<float> high)
        where TSecond : IPass
    {
        if (!TSecond.Second)
        {
            halves[2 * slot] = low;
            halves[2 * slot + 1] = high;
            return;
        }
        Vector512<float> u = halves[2 * slot] + low, v = halves[2 * slot + 1] + high;
        // Element e of a 32-element chunk sits in the low register (e % 8 < 4) or the high one, at lane 4 (e / 8) + e % 4.
        Vector512<int> first = Vector512.Create(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
        Vector512<int> second = Vector512.Create(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
        sums[slot] = Avx512F.PermuteVar16x32x2(u, first, v) + Avx512F.PermuteVar16x32x2(u, second, v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Widen(Vector512<ushort> topHalves) =>
        (Vector512.ShiftRightArithmetic(topHalves.AsInt32(), 3) & Vector512.Create(unchecked((int)0x8FFFE000))).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> WidenLow(Vector512<ushort> h) => Widen(Avx512BW.UnpackLow(Vector512<ushort>.Zero, h));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> WidenHigh(Vector512<ushort> h) => Widen(Avx512BW.UnpackHigh(Vector512<ushort>.Zero, h));
}
