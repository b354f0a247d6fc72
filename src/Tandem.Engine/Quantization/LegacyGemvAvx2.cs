using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Kernels;
using static Tandem.Engine.Quantization.LegacyQuantMath;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The AVX2 matrix × one-token kernel of Q4_0/Q5_0/Q8_0 (batch-1 decode): four weight rows, one 8-float register
/// each, against the panel's one token. Each register receives exactly the operations of
/// <see cref="LegacyDot4.Avx2Dot{TDecoder}"/> (exact integer lane sums through <typeparamref name="TSums"/>,
/// <c>fma(dx * dy, sum, acc)</c> per block, <see cref="LegacyQuantMath.HorizontalSum"/> at the end), so every result is
/// bit-identical to <c>Dot</c>. Against the row-by-row dot, the token's block, its term and its scale (widened once
/// per matmul by the panel) are loaded once for four rows, the rows' F16 scales are widened together, and four
/// independent FMA chains run where the dot waited on one.
/// </summary>
internal static unsafe class LegacyGemvAvx2
{
    internal readonly struct Kernel<TDecoder, TSums> : IGemvKernel<Q8ActivationPanel>
        where TDecoder : ILegacyBlockDecoder
        where TSums : IBlockSums256
    {
        public static int MaxRows => 4;

        public static int Steps(int cols) => cols / 32;

        public static void Run(int rows, byte* w0, long rowBytes, in Q8ActivationPanel panel, float* results, SpreadPrefetch next) =>
            FourRows<TDecoder, TSums>(rows, w0, rowBytes, panel, results, next);
    }

    /// <summary>
    /// Rows <paramref name="w0"/>.. (<paramref name="rows"/> of them real, 1..4; missing rows repeat the last real one and
    /// their results are not written) against token 0 of <paramref name="panel"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void FourRows<TDecoder, TSums>(int rows, byte* w0, long rowBytes, in Q8ActivationPanel panel, float* results,
        SpreadPrefetch next)
        where TDecoder : ILegacyBlockDecoder
        where TSums : IBlockSums256
    {
        byte* w1 = rows > 1 ? w0 + rowBytes : w0;
        byte* w2 = rows > 2 ? w0 + 2 * rowBytes : w1;
        byte* w3 = rows > 3 ? w0 + 3 * rowBytes : w2;
        int nb = panel.Blocks;
        sbyte* q = panel.Quants;
        float* s = panel.Scales;
        nint xb = TDecoder.BlockBytes;

        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        for (int b = 0; b < nb; b++)
        {
            next.Step();
            Vector256<sbyte> y = TSums.TokenTerm(Vector256.Load(q));
            // dx * dy per row, the single kernel's F32 scale product.
            Vector128<float> d = LegacyDot4.HalfToSingle4(Vector128.Create(
                (uint)*(ushort*)w0, *(ushort*)w1, *(ushort*)w2, *(ushort*)w3)) * Vector128.Create(s[0]);
            Vector256<sbyte> x0 = TDecoder.Decode(ref *w0);
            c0 = Vector256.FusedMultiplyAdd(Vector256.Create(d.GetElement(0)), TSums.Sums(x0, TSums.RowTerm(x0), y), c0);
            Vector256<sbyte> x1 = TDecoder.Decode(ref *w1);
            c1 = Vector256.FusedMultiplyAdd(Vector256.Create(d.GetElement(1)), TSums.Sums(x1, TSums.RowTerm(x1), y), c1);
            Vector256<sbyte> x2 = TDecoder.Decode(ref *w2);
            c2 = Vector256.FusedMultiplyAdd(Vector256.Create(d.GetElement(2)), TSums.Sums(x2, TSums.RowTerm(x2), y), c2);
            Vector256<sbyte> x3 = TDecoder.Decode(ref *w3);
            c3 = Vector256.FusedMultiplyAdd(Vector256.Create(d.GetElement(3)), TSums.Sums(x3, TSums.RowTerm(x3), y), c3);

            w0 += xb; w1 += xb; w2 += xb; w3 += xb;
            q += Q8ActivationPanel.PairBlockBytes;
            s += 2;
        }
        results[0] = HorizontalSum(c0);
        if (rows > 1) results[1] = HorizontalSum(c1);
        if (rows > 2) results[2] = HorizontalSum(c2);
        if (rows > 3) results[3] = HorizontalSum(c3);
    }
}
