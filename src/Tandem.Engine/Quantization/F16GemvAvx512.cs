using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The F16 matrix × one-token kernel where ggml's SIMD width is 16 (AVX-512): two weight rows against the one token,
/// each row exactly <see cref="GgmlFloatDot.VecDotF16"/>'s arithmetic (four 16-lane FMA accumulators over 64-element
/// steps, <c>ReduceAdd((a0 + a2) + (a1 + a3))</c>, the double tail, the plain sum where an inf/NaN is involved).
/// Weights are widened by interleaving with zeros, and the exponent's rebias by 2^112 is carried by the activations
/// (<see cref="F16GemvPanel"/> explains the lane order, why each lane still sums what ggml's does, and why the
/// products are exact): per 16 products an unpack, a shift and a mask, against the eight-operation zero-extending
/// widening of the one-row kernel (<see cref="F16TileAvx512"/>), whose conversion work was most of a decode step's F16
/// matmul. The two rows share the activation loads.
/// </summary>
internal static unsafe class F16GemvAvx512
{
    internal readonly struct Kernel : IGemvKernel<F16GemvPanel>
    {
        public static int MaxRows => 2;

        public static int Steps(int cols) => F16ActivationPanel.VectorEnd(cols) / 64;

        public static void Run(int rows, byte* w0, long rowBytes, in F16GemvPanel panel, float* results, SpreadPrefetch next)
        {
            ushort* wa = (ushort*)w0, wb = rows > 1 ? (ushort*)(w0 + rowBytes) : wa;
            int specials = rows > 1 ? Rows<Count2>(wa, wb, panel, results, next) : Rows<Count1>(wa, wb, panel, results, next);
            if (specials == 0 && panel.Plain) return;
            panel.Finish(wa, (specials & 1) != 0, results);
            if (rows > 1) panel.Finish(wb, (specials & 2) != 0, results + 1);
        }
    }

    /// <summary>
    /// The reduced vector sums of rows <paramref name="wa"/> (and <paramref name="wb"/> for two rows) into results[0]
    /// (and [1]); returns bit 0 (bit 1) set where that row's vector part holds an F16 inf/NaN. No calls in here: vector
    /// registers do not survive a call (see <see cref="F16TileAvx512"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Rows<TRows>(ushort* wa, ushort* wb, in F16GemvPanel panel, float* results, SpreadPrefetch next) where TRows : ITileCount
    {
        float* y = panel.Permuted;
        int vectorEnd = F16ActivationPanel.VectorEnd(panel.Source.Cols);
        // a<row><register>: registers A, B hold the lanes of ggml's a0 and a1 (the low and high unpack of elements
        // i..i+31), C and D those of a2 and a3 (i+32..i+63).
        Vector512<float> aA = default, aB = default, aC = default, aD = default;
        Vector512<float> bA = default, bB = default, bC = default, bD = default;
        Vector512<ushort> magnitudeA = default, magnitudeB = default;
        for (int i = 0; i < vectorEnd; i += 64)
        {
            next.Step();
            Vector512<float> y0 = Vector512.Load(y + i), y1 = Vector512.Load(y + i + 16);
            Vector512<float> y2 = Vector512.Load(y + i + 32), y3 = Vector512.Load(y + i + 48);
            Vector512<ushort> h = Vector512.Load(wa + i);
            magnitudeA = Vector512.Max(magnitudeA, h & Vector512.Create((ushort)0x7FFF));
            aA = Vector512.FusedMultiplyAdd(WidenLow(h), y0, aA);
            aB = Vector512.FusedMultiplyAdd(WidenHigh(h), y1, aB);
            h = Vector512.Load(wa + i + 32);
            magnitudeA = Vector512.Max(magnitudeA, h & Vector512.Create((ushort)0x7FFF));
            aC = Vector512.FusedMultiplyAdd(WidenLow(h), y2, aC);
            aD = Vector512.FusedMultiplyAdd(WidenHigh(h), y3, aD);
            if (TRows.Count > 1)
            {
                h = Vector512.Load(wb + i);
                magnitudeB = Vector512.Max(magnitudeB, h & Vector512.Create((ushort)0x7FFF));
                bA = Vector512.FusedMultiplyAdd(WidenLow(h), y0, bA);
                bB = Vector512.FusedMultiplyAdd(WidenHigh(h), y1, bB);
                h = Vector512.Load(wb + i + 32);
                magnitudeB = Vector512.Max(magnitudeB, h & Vector512.Create((ushort)0x7FFF));
                bC = Vector512.FusedMultiplyAdd(WidenLow(h), y2, bC);
                bD = Vector512.FusedMultiplyAdd(WidenHigh(h), y3, bD);
            }
        }
        results[0] = Reduce(aA, aB, aC, aD);
        int specials = Vector512.GreaterThanOrEqualAny(magnitudeA, Vector512.Create((ushort)0x7C00)) ? 1 : 0;
        if (TRows.Count > 1)
        {
            results[1] = Reduce(bA, bB, bC, bD);
            if (Vector512.GreaterThanOrEqualAny(magnitudeB, Vector512.Create((ushort)0x7C00))) specials |= 2;
        }
        return specials;
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
