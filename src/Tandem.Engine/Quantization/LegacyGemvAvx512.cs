using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Kernels;
using static Tandem.Engine.Quantization.LegacyQuantMath;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The AVX-512 matrix × one-token kernel of Q4_0/Q5_0/Q8_0 (batch-1 decode): eight weight rows in four registers of
/// 16 floats, two rows per register. It is the row-tile kernel (<see cref="LegacyTileAvx512"/>) turned around: there a
/// register holds one row against a token pair, its halves the two tokens; here it holds a row pair against the one
/// token, its low 256 bits exactly the single-pair kernel's 8-lane accumulator for the first row, its high 256 bits
/// the one for the second. The token's block comes from the panel already in both halves (a one-token panel
/// duplicates it), its F16 scale widened once per matmul, and each half receives what
/// <see cref="LegacyDot4.Avx2Dot{TDecoder}"/> does: the exact integer lane sums, <c>acc = fma(dx * dy, sum, acc)</c>
/// per block, <see cref="LegacyQuantMath.HorizontalSum"/> at the end. So every row's result is bit-identical to
/// <c>Dot</c>, where the row tiles at one token computed every product twice (the pair's duplicate) and the row-by-row
/// dot waited on one FMA chain and two scalar F16 conversions per block.
/// </summary>
internal static unsafe class LegacyGemvAvx512
{
    internal readonly struct Kernel<TDecoder> : IGemvKernel<Q8ActivationPanel> where TDecoder : ILegacyBlockDecoder
    {
        public static int MaxRows => 8;

        public static int Steps(int cols) => cols / 32;

        public static void Run(int rows, byte* w0, long rowBytes, in Q8ActivationPanel panel, float* results, SpreadPrefetch next)
        {
            switch ((rows + 1) / 2)
            {
                case 4: Rows<TDecoder, Count4>(rows, w0, rowBytes, panel, results, next); break;
                case 3: Rows<TDecoder, Count3>(rows, w0, rowBytes, panel, results, next); break;
                case 2: Rows<TDecoder, Count2>(rows, w0, rowBytes, panel, results, next); break;
                default: Rows<TDecoder, Count1>(rows, w0, rowBytes, panel, results, next); break;
            }
        }
    }

    /// <summary>
    /// <typeparamref name="TRowPairs"/> pairs of rows from <paramref name="w0"/> (<paramref name="rows"/> of them real; a
    /// missing last row repeats the one before and its result is not written) against token 0 of <paramref name="panel"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows<TDecoder, TRowPairs>(int rows, byte* w0, long rowBytes, in Q8ActivationPanel panel, float* results,
        SpreadPrefetch next)
        where TDecoder : ILegacyBlockDecoder
        where TRowPairs : ITileCount
    {
        byte* w1 = rows > 1 ? w0 + rowBytes : w0;
        byte* w2 = rows > 2 ? w0 + 2 * rowBytes : w1;
        byte* w3 = rows > 3 ? w0 + 3 * rowBytes : w2;
        byte* w4 = rows > 4 ? w0 + 4 * rowBytes : w3;
        byte* w5 = rows > 5 ? w0 + 5 * rowBytes : w4;
        byte* w6 = rows > 6 ? w0 + 6 * rowBytes : w5;
        byte* w7 = rows > 7 ? w0 + 7 * rowBytes : w6;
        int nb = panel.Blocks;
        sbyte* q = panel.Quants;
        float* s = panel.Scales;
        nint xb = TDecoder.BlockBytes;
        // Spread lanes 2k and 2k + 1 of the scale products over the low and high halves of row pair k's register.
        Vector512<int> spread0 = Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        Vector512<int> spread1 = Vector512.Create(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);

        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        for (int b = 0; b < nb; b++)
        {
            next.Step();
            Vector512<sbyte> y = Vector512.Load(q);
            Vector512<sbyte> negY = -y;
            Vector128<float> dy = Vector128.Create(s[0]);
            // dx * dy per row, the single kernel's F32 scale product (four rows' F16 scales widened together).
            Vector512<float> dLow = (LegacyDot4.HalfToSingle4(Vector128.Create(
                (uint)*(ushort*)w0, *(ushort*)w1, *(ushort*)w2, *(ushort*)w3)) * dy).ToVector256Unsafe().ToVector512Unsafe();

            c0 = Step<TDecoder>(w0, w1, Avx512F.PermuteVar16x32(dLow, spread0), y, negY, c0);
            if (TRowPairs.Count > 1)
                c1 = Step<TDecoder>(w2, w3, Avx512F.PermuteVar16x32(dLow, spread1), y, negY, c1);
            if (TRowPairs.Count > 2)
            {
                Vector512<float> dHigh = (LegacyDot4.HalfToSingle4(Vector128.Create(
                    (uint)*(ushort*)w4, *(ushort*)w5, *(ushort*)w6, *(ushort*)w7)) * dy).ToVector256Unsafe().ToVector512Unsafe();
                c2 = Step<TDecoder>(w4, w5, Avx512F.PermuteVar16x32(dHigh, spread0), y, negY, c2);
                if (TRowPairs.Count > 3)
                    c3 = Step<TDecoder>(w6, w7, Avx512F.PermuteVar16x32(dHigh, spread1), y, negY, c3);
            }

            w0 += xb; w1 += xb; w2 += xb; w3 += xb;
            w4 += xb; w5 += xb; w6 += xb; w7 += xb;
            q += Q8ActivationPanel.PairBlockBytes;
            s += 2;
        }
        // Only real rows are written: results has room for exactly the group.
        results[0] = HorizontalSum(c0.GetLower());
        if (rows > 1) results[1] = HorizontalSum(c0.GetUpper());
        if (TRowPairs.Count > 1)
        {
            results[2] = HorizontalSum(c1.GetLower());
            if (rows > 3) results[3] = HorizontalSum(c1.GetUpper());
        }
        if (TRowPairs.Count > 2)
        {
            results[4] = HorizontalSum(c2.GetLower());
            if (rows > 5) results[5] = HorizontalSum(c2.GetUpper());
        }
        if (TRowPairs.Count > 3)
        {
            results[6] = HorizontalSum(c3.GetLower());
            if (rows > 7) results[7] = HorizontalSum(c3.GetUpper());
        }
    }

    /// <summary>One block of rows <paramref name="wa"/> (low half) and <paramref name="wb"/> (high half) against the token.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Step<TDecoder>(byte* wa, byte* wb, Vector512<float> d, Vector512<sbyte> y,
        Vector512<sbyte> negY, Vector512<float> c)
        where TDecoder : ILegacyBlockDecoder
    {
        // Two 256-bit decodes: a 512-bit decode of both blocks at once (vpsrlvw for the nibbles, vpshufb + compare for
        // Q5_0's fifth bits) measured 1.9 ns per 32 products for Q5_0 against 1.0 for this.
        Vector512<sbyte> x = Vector512.Create(TDecoder.Decode(ref *wa), TDecoder.Decode(ref *wb));
        return Vector512.FusedMultiplyAdd(d, LegacyTileAvx512.Sums(Vector512.Abs(x).AsByte(), x, y, negY), c);
    }
}
