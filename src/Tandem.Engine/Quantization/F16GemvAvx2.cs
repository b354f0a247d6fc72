using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The F16 matrix × one-token kernel where ggml's SIMD width is 8 (AVX2): two weight rows against the one token, each
/// row exactly <see cref="GgmlFloatDot.VecDotF16"/>'s arithmetic (four 8-lane FMA accumulators over 32-element steps,
/// <c>ReduceAddHadd((a0 + a2) + (a1 + a3))</c>, the double tail, the plain sum where an inf/NaN is involved), with the
/// weights widened by interleaving with zeros and the 2^112 carried by the activations, as in <see cref="F16GemvAvx512"/>
/// (lane order and exactness: <see cref="F16GemvPanel"/>).
/// <para>
/// Two rows per call share the activation loads and halve the per-call work around the loop, which at SmolLM-135M's
/// 576 columns (18 steps a row) was a large part of a row's time. With 16 vector registers the second row fits only
/// because the two rows share one inf/NaN magnitude register (8 accumulators, 1 magnitude, 1 mask, two rows' weights,
/// an activation and a widened temporary): where it sees an F16 inf/NaN, which row holds it is found by scanning both rows again
/// (<see cref="F16GemvPanel.HasSpecial"/>), a path real weights never take.
/// </para>
/// </summary>
internal static unsafe class F16GemvAvx2
{
    internal readonly struct Kernel : IGemvKernel<F16GemvPanel>
    {
        public static int MaxRows => 2;

        public static int Steps(int cols) => F16ActivationPanel.VectorEnd(cols) / 32;

        public static void Run(int rows, byte* w0, long rowBytes, in F16GemvPanel panel, float* results, SpreadPrefetch next)
        {
            ushort* wa = (ushort*)w0, wb = rows > 1 ? (ushort*)(w0 + rowBytes) : wa;
            bool special = rows > 1 ? Rows<Count2>(wa, wb, panel, results, next) : Rows<Count1>(wa, wb, panel, results, next);
            if (!special && panel.Plain) return;
            int vectorEnd = F16ActivationPanel.VectorEnd(panel.Source.Cols);
            panel.Finish(wa, special && F16GemvPanel.HasSpecial(wa, vectorEnd), results);
            if (rows > 1) panel.Finish(wb, special && F16GemvPanel.HasSpecial(wb, vectorEnd), results + 1);
        }
    }

    /// <summary>
    /// The reduced vector sums of rows <paramref name="wa"/> (and <paramref name="wb"/> for two rows) into results[0]
    /// (and [1]); whether the vector part of either row holds an F16 inf/NaN. No calls in here: vector registers do not
    /// survive a call.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool Rows<TRows>(ushort* wa, ushort* wb, in F16GemvPanel panel, float* results, SpreadPrefetch next) where TRows : ITileCount
    {
        float* y = panel.Permuted;
        int vectorEnd = F16ActivationPanel.VectorEnd(panel.Source.Cols);
        // <row><register>: A, B hold the lanes of ggml's a0 and a1 (low and high unpack of elements i..i+15); C, D: a2 and a3.
        Vector256<float> aA = default, aB = default, aC = default, aD = default;
        Vector256<float> bA = default, bB = default, bC = default, bD = default;
        Vector256<ushort> magnitude = default;
        // Both rows' halves of a step side by side, so that each activation vector is live for two FMAs only: with the
        // rows one after the other the JIT kept all four in registers and spilled an accumulator every step.
        for (int i = 0; i < vectorEnd; i += 32)
        {
            next.Step();
            Half<TRows>(wa + i, wb + i, y + i, ref aA, ref aB, ref bA, ref bB, ref magnitude);
            Half<TRows>(wa + i + 16, wb + i + 16, y + i + 16, ref aC, ref aD, ref bC, ref bD, ref magnitude);
        }
        results[0] = Reduce(aA, aB, aC, aD);
        if (TRows.Count > 1) results[1] = Reduce(bA, bB, bC, bD);
        return Vector256.GreaterThanOrEqualAny(magnitude, Vector256.Create((ushort)(0x7C00 << 1)));
    }

    /// <summary>Each F16's bits without the sign, doubled: 0x7C00 &lt;&lt; 1 or more where it is an inf/NaN (a shift, which needs no mask register).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> Magnitude(Vector256<ushort> h) => Vector256.ShiftLeft(h, 1);

    /// <summary>Sixteen elements of each row into its low and high accumulators (<paramref name="lowB"/>, <paramref name="highB"/>: the second row's).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Half<TRows>(ushort* wa, ushort* wb, float* y, ref Vector256<float> lowA, ref Vector256<float> highA,
        ref Vector256<float> lowB, ref Vector256<float> highB, ref Vector256<ushort> magnitude) where TRows : ITileCount
    {
        Vector256<ushort> ha = Vector256.Load(wa);
        magnitude = Vector256.Max(magnitude, Magnitude(ha));
        Vector256<ushort> hb = default;
        if (TRows.Count > 1)
        {
            hb = Vector256.Load(wb);
            magnitude = Vector256.Max(magnitude, Magnitude(hb));
        }
        Vector256<float> y0 = Vector256.Load(y);
        lowA = Vector256.FusedMultiplyAdd(WidenLow(ha), y0, lowA);
        if (TRows.Count > 1) lowB = Vector256.FusedMultiplyAdd(WidenLow(hb), y0, lowB);
        Vector256<float> y1 = Vector256.Load(y + 8);
        highA = Vector256.FusedMultiplyAdd(WidenHigh(ha), y1, highA);
        if (TRows.Count > 1) highB = Vector256.FusedMultiplyAdd(WidenHigh(hb), y1, highB);
    }

    /// <summary>ggml's accumulators a0..a3 rebuilt from the unpacked lanes, then <see cref="GgmlFloatDot.VecDotF16"/>'s reduction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Reduce(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d)
    {
        // Element e of a 16-element chunk sits in the low register (e % 8 < 4) or the high one, at lane 4 (e / 8) + e % 4.
        Vector256<float> a0 = Vector256.Create(a.GetLower(), b.GetLower()), a1 = Vector256.Create(a.GetUpper(), b.GetUpper());
        Vector256<float> a2 = Vector256.Create(c.GetLower(), d.GetLower()), a3 = Vector256.Create(c.GetUpper(), d.GetUpper());
        return GgmlSimd.ReduceAddHadd((a0 + a2) + (a1 + a3));
    }

    /// <summary>As <see cref="F16GemvAvx512"/>'s widening, eight lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Widen(Vector256<ushort> topHalves) =>
        (Vector256.ShiftRightArithmetic(topHalves.AsInt32(), 3) & Vector256.Create(unchecked((int)0x8FFFE000))).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> WidenLow(Vector256<ushort> h) => Widen(Avx2.UnpackLow(Vector256<ushort>.Zero, h));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> WidenHigh(Vector256<ushort> h) => Widen(Avx2.UnpackHigh(Vector256<ushort>.Zero, h));
}
