using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The F16 matrix × one-token kernel where ggml's SIMD width is 8 (AVX2): one weight row against the one token,
/// exactly <see cref="GgmlFloatDot.VecDotF16"/>'s arithmetic (four 8-lane FMA accumulators over 32-element steps,
/// <c>ReduceAddHadd((a0 + a2) + (a1 + a3))</c>, the double tail, the plain sum where an inf/NaN is involved), with the
/// weights widened by interleaving with zeros and the 2^112 carried by the activations, as in <see cref="F16GemvAvx512"/>
/// (lane order and exactness: <see cref="F16GemvPanel"/>).
/// One row per call: with 16 vector registers a second row's accumulators would spill.
/// </summary>
internal static unsafe class F16GemvAvx2
{
    internal readonly struct Kernel : IGemvKernel<F16GemvPanel>
    {
        public static int MaxRows => 1;

        public static int Steps(int cols) => F16ActivationPanel.VectorEnd(cols) / 32;

        public static void Run(int rows, byte* w0, long rowBytes, in F16GemvPanel panel, float* results, SpreadPrefetch next)
        {
            ushort* w = (ushort*)w0;
            bool special = Row(w, panel, results, next);
            int cols = panel.Source.Cols;
            results[0] = GgmlFloatDot.FinishWidened(w, panel.Source.Row(0), cols, F16ActivationPanel.VectorEnd(cols),
                special || panel.Source.HasSpecial(0), results[0]);
        }
    }

    /// <summary>The reduced vector sum of row <paramref name="w"/> into results[0]; whether its vector part holds an F16 inf/NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool Row(ushort* w, in F16GemvPanel panel, float* results, SpreadPrefetch next)
    {
        float* y = panel.Permuted;
        int vectorEnd = F16ActivationPanel.VectorEnd(panel.Source.Cols);
        // A, B: the lanes of ggml's a0 and a1 (low and high unpack of elements i..i+15); C, D: a2 and a3.
        Vector256<float> a = default, b = default, c = default, d = default;
        Vector256<ushort> magnitude = default;
        for (int i = 0; i < vectorEnd; i += 32)
        {
            next.Step();
            Vector256<ushort> h = Vector256.Load(w + i);
            magnitude = Vector256.Max(magnitude, h & Vector256.Create((ushort)0x7FFF));
            a = Vector256.FusedMultiplyAdd(Widen(Avx2.UnpackLow(Vector256<ushort>.Zero, h)), Vector256.Load(y + i), a);
            b = Vector256.FusedMultiplyAdd(Widen(Avx2.UnpackHigh(Vector256<ushort>.Zero, h)), Vector256.Load(y + i + 8), b);
            h = Vector256.Load(w + i + 16);
            magnitude = Vector256.Max(magnitude, h & Vector256.Create((ushort)0x7FFF));
            c = Vector256.FusedMultiplyAdd(Widen(Avx2.UnpackLow(Vector256<ushort>.Zero, h)), Vector256.Load(y + i + 16), c);
            d = Vector256.FusedMultiplyAdd(Widen(Avx2.UnpackHigh(Vector256<ushort>.Zero, h)), Vector256.Load(y + i + 24), d);
        }
        // Element e of a 16-element chunk sits in the low register (e % 8 < 4) or the high one, at lane 4 (e / 8) + e % 4.
        Vector256<float> a0 = Vector256.Create(a.GetLower(), b.GetLower()), a1 = Vector256.Create(a.GetUpper(), b.GetUpper());
        Vector256<float> a2 = Vector256.Create(c.GetLower(), d.GetLower()), a3 = Vector256.Create(c.GetUpper(), d.GetUpper());
        results[0] = GgmlSimd.ReduceAddHadd((a0 + a2) + (a1 + a3));
        return Vector256.GreaterThanOrEqualAny(magnitude, Vector256.Create((ushort)0x7C00));
    }

    /// <summary>As <see cref="F16GemvAvx512"/>'s widening, eight lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Widen(Vector256<ushort> topHalves) =>
        (Vector256.ShiftRightArithmetic(topHalves.AsInt32(), 3) & Vector256.Create(unchecked((int)0x8FFFE000))).AsSingle();
}
