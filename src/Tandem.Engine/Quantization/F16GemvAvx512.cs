using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The F16 matrix × one-token kernel where ggml's SIMD width is 16 (AVX-512): four, two or one weight rows against the one token,
/// each row exactly <see cref="GgmlFloatDot.VecDotF16"/>'s arithmetic (four 16-lane FMA accumulators over 64-element
/// steps, <c>ReduceAdd((a0 + a2) + (a1 + a3))</c>, the double tail, the plain sum where an inf/NaN is involved).
/// Weights are widened by interleaving with zeros, and the exponent's rebias by 2^112 is carried by the activations
/// (<see cref="F16GemvPanel"/> explains the lane order, why each lane still sums what ggml's does, and why the
/// products are exact): per 16 products an unpack, a shift and a mask, against the eight-operation zero-extending
/// widening of the one-row kernel (<see cref="F16TileAvx512"/>), whose conversion work was most of a decode step's F16
/// matmul. The rows share the activation loads and one inf/NaN magnitude register.
/// </summary>
internal static unsafe class F16GemvAvx512
{
    /// <summary>
    /// Longest rows that run four to a call. Kernel bench, one thread, thread CPU time, four rows against two
    /// (docs/performance.md, s12-decode): 0.84-0.86x the time at 576 columns (in cache: the work around each call's
    /// loop of 9 steps is halved), 0.98x at 576 columns out of cache, but 1.06x at 2048 columns out of cache (32000 x
    /// 2048, the TinyLlama-1.1B output matrix), where the stream of weights is the limit.
    /// </summary>
    public const int FourRowsMaxCols = 1024;

    /// <summary>
    /// Shortest rows that run one to a call: out of cache at 5632 columns (TinyLlama-1.1B's ffn_down) one row took
    /// 0.70-0.89x the time of two (one stream of 11 KB rows and the next row's prefetch, against two side by side and
    /// the next two's), at 2048 columns 1.02-1.09x. On the AVX2 kernel one row and two measured the same at both.
    /// </summary>
    public const int OneRowMinCols = 4096;

    /// <summary>y[r] for rows <paramref name="begin"/>..<paramref name="end"/> of <paramref name="w"/>, four, two or one a call by the row length.</summary>
    public static void Rows(in WeightMatrix w, in F16GemvPanel panel, float* y, int begin, int end, NextChunkHint following)
    {
        if (w.Cols <= FourRowsMaxCols) GemvRows.Run<Kernel<Count4>, F16GemvPanel>(w, panel, y, begin, end, following);
        else if (w.Cols < OneRowMinCols) GemvRows.Run<Kernel<Count2>, F16GemvPanel>(w, panel, y, begin, end, following);
        else GemvRows.Run<Kernel<Count1>, F16GemvPanel>(w, panel, y, begin, end, following);
    }

    /// <summary>The kernel at up to <typeparamref name="TMaxRows"/> rows a call (four, two or one).</summary>
    internal readonly struct Kernel<TMaxRows> : IGemvKernel<F16GemvPanel> where TMaxRows : ITileCount
    {
        public static int MaxRows => TMaxRows.Count;

        public static int Steps(int cols) => F16ActivationPanel.VectorEnd(cols) / 64;

        public static void Run(int rows, byte* w0, long rowBytes, in F16GemvPanel panel, float* results, SpreadPrefetch next)
        {
            bool special = rows switch
            {
                4 => Rows<Count4>(w0, rowBytes, panel, results, next),
                3 => Rows<Count3>(w0, rowBytes, panel, results, next),
                2 => Rows<Count2>(w0, rowBytes, panel, results, next),
                _ => Rows<Count1>(w0, rowBytes, panel, results, next),
            };
            if (!special && panel.Plain) return;
            int vectorEnd = F16ActivationPanel.VectorEnd(panel.Source.Cols);
            for (int k = 0; k < rows; k++)
            {
                ushort* w = (ushort*)(w0 + k * rowBytes);
                panel.Finish(w, special && F16GemvPanel.HasSpecial(w, vectorEnd), results + k);
            }
        }
    }

    /// <summary>
    /// The reduced vector sums of <typeparamref name="TRows"/> rows from <paramref name="w0"/> into results[0..];
    /// whether the vector part of any of them holds an F16 inf/NaN (one magnitude register for all rows: which row
    /// holds it is found again by <see cref="Kernel.Run"/>). No calls in here: vector registers do not survive a call
    /// (see <see cref="F16TileAvx512"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool Rows<TRows>(byte* w0, long rowBytes, in F16GemvPanel panel, float* results, SpreadPrefetch next) where TRows : ITileCount
    {
        float* y = panel.Permuted;
        int vectorEnd = F16ActivationPanel.VectorEnd(panel.Source.Cols);
        ushort* wa = (ushort*)w0;
        ushort* wb = TRows.Count > 1 ? (ushort*)(w0 + rowBytes) : wa;
        ushort* wc = TRows.Count > 2 ? (ushort*)(w0 + 2 * rowBytes) : wa;
        ushort* wd = TRows.Count > 3 ? (ushort*)(w0 + 3 * rowBytes) : wa;
        // <row><register>: registers A, B hold the lanes of ggml's a0 and a1 (the low and high unpack of elements
        // i..i+31), C and D those of a2 and a3 (i+32..i+63).
        Vector512<float> aA = default, aB = default, aC = default, aD = default;
        Vector512<float> bA = default, bB = default, bC = default, bD = default;
        Vector512<float> cA = default, cB = default, cC = default, cD = default;
        Vector512<float> dA = default, dB = default, dC = default, dD = default;
        Vector512<ushort> magnitude = default;
        for (int i = 0; i < vectorEnd; i += 64)
        {
            next.Step();
            Vector512<float> y0 = Vector512.Load(y + i), y1 = Vector512.Load(y + i + 16);
            Vector512<float> y2 = Vector512.Load(y + i + 32), y3 = Vector512.Load(y + i + 48);
            Step(wa + i, y0, y1, y2, y3, ref aA, ref aB, ref aC, ref aD, ref magnitude);
            if (TRows.Count > 1) Step(wb + i, y0, y1, y2, y3, ref bA, ref bB, ref bC, ref bD, ref magnitude);
            if (TRows.Count > 2) Step(wc + i, y0, y1, y2, y3, ref cA, ref cB, ref cC, ref cD, ref magnitude);
            if (TRows.Count > 3) Step(wd + i, y0, y1, y2, y3, ref dA, ref dB, ref dC, ref dD, ref magnitude);
        }
        results[0] = Reduce(aA, aB, aC, aD);
        if (TRows.Count > 1) results[1] = Reduce(bA, bB, bC, bD);
        if (TRows.Count > 2) results[2] = Reduce(cA, cB, cC, cD);
        if (TRows.Count > 3) results[3] = Reduce(dA, dB, dC, dD);
        return Vector512.GreaterThanOrEqualAny(magnitude, Vector512.Create((ushort)(0x7C00 << 1)));
    }

    /// <summary>64 elements of one row into its four accumulators; its doubled sign-less bits into the running maximum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step(ushort* w, Vector512<float> y0, Vector512<float> y1, Vector512<float> y2, Vector512<float> y3,
        ref Vector512<float> a, ref Vector512<float> b, ref Vector512<float> c, ref Vector512<float> d, ref Vector512<ushort> magnitude)
    {
        Vector512<ushort> h = Vector512.Load(w);
        magnitude = Vector512.Max(magnitude, Vector512.ShiftLeft(h, 1));
        a = Vector512.FusedMultiplyAdd(WidenLow(h), y0, a);
        b = Vector512.FusedMultiplyAdd(WidenHigh(h), y1, b);
        h = Vector512.Load(w + 32);
        magnitude = Vector512.Max(magnitude, Vector512.ShiftLeft(h, 1));
        c = Vector512.FusedMultiplyAdd(WidenLow(h), y2, c);
        d = Vector512.FusedMultiplyAdd(WidenHigh(h), y3, d);
    }

    /// <summary>
    /// F16 values sitting in the top halves of 32-bit lanes, widened as <see cref="GgmlFloatDot.Half16"/> does but
    /// without its final multiplication by 2^112, i.e. to exactly w · 2^-112 (the activations carry the 2^112, see
    /// <see cref="F16GemvPanel"/>; finite values, inf/NaN are caught by the magnitude check): the arithmetic shift moves
    /// exponent and mantissa into float position and copies the sign into the three bits the mask then clears.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Widen(Vector512<ushort> topHalves) =>
        (Vector512.ShiftRightArithmetic(topHalves.AsInt32(), 3) & Vector512.Create(unchecked((int)0x8FFFE000))).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> WidenLow(Vector512<ushort> h) => Widen(Avx512BW.UnpackLow(Vector512<ushort>.Zero, h));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> WidenHigh(Vector512<ushort> h) => Widen(Avx512BW.UnpackHigh(Vector512<ushort>.Zero, h));

    /// <summary>ggml's accumulators a0..a3 rebuilt from the unpacked lanes, then <see cref="GgmlFloatDot.VecDotF16"/>'s reduction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Reduce(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d)
    {
        // Element e of a 32-element chunk sits in the low register (e % 8 < 4) or the high one, at lane 4 (e / 8) + e % 4.
        Vector512<int> first = Vector512.Create(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
        Vector512<int> second = Vector512.Create(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
        Vector512<float> a0 = Avx512F.PermuteVar16x32x2(a, first, b), a1 = Avx512F.PermuteVar16x32x2(a, second, b);
        Vector512<float> a2 = Avx512F.PermuteVar16x32x2(c, first, d), a3 = Avx512F.PermuteVar16x32x2(c, second, d);
        return GgmlSimd.ReduceAdd((a0 + a2) + (a1 + a3));
    }
}
