using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Tandem.Engine.Quantization.LegacyQuantMath;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The AVX-512 micro-kernel of the tiled Q4_0/Q5_0/Q8_0 matmul: four weight rows × up to four token pairs
/// (eight tokens) in 16 registers of 16 floats. Each register holds one weight row against one token pair:
/// its low 256 bits are exactly the single-pair kernel's 8-lane accumulator for the pair's first token, its
/// high 256 bits the one for the second, because the weight block is broadcast into both halves and each half
/// receives the same operations <see cref="LegacyDot4.Avx2Dot{TDecoder}"/> does:
/// <list type="number">
/// <item>per block, in each 32-bit lane, the exact integer sum of four quant products (|qx| · sign(qy, qx)
/// through <c>vpmaddubsw</c> + <c>vpmaddwd</c>: no pair can saturate because activations lie in [-127, 127],
/// so this equals the single kernel's VNNI or maddubs sums);</item>
/// <item>that sum converted to float, then <c>acc = fma(dx * dy, sum, acc)</c> with the same F32 scale product;</item>
/// <item>after the last block, <see cref="LegacyQuantMath.HorizontalSum"/> of each half.</item>
/// </list>
/// So every (row, token) result is bit-identical to <c>Dot</c> whatever the tile it lands in. Per pair and block
/// this is six 512-bit operations for 64 products, against about nine 256-bit ones for 32 in the four-token kernel.
/// .NET 10 exposes no 512-bit VNNI, which would save one more.
/// </summary>
internal static unsafe class LegacyTileAvx512
{
    /// <summary>The kernel for <see cref="Kernels.RowTiles"/>: up to four pairs per call.</summary>
    internal readonly struct Kernel<TDecoder> : ITileKernel<Q8ActivationPanel> where TDecoder : ILegacyBlockDecoder
    {
        public static int MaxPairs => 4;

        public static void Run(int pairs, byte* w0, byte* w1, byte* w2, byte* w3, in Q8ActivationPanel panel, int pair, float* results)
        {
            switch (pairs)
            {
                case 4: Tile<TDecoder, Count4>(w0, w1, w2, w3, panel, pair, results); break;
                case 3: Tile<TDecoder, Count3>(w0, w1, w2, w3, panel, pair, results); break;
                case 2: Tile<TDecoder, Count2>(w0, w1, w2, w3, panel, pair, results); break;
                default: Tile<TDecoder, Count1>(w0, w1, w2, w3, panel, pair, results); break;
            }
        }
    }

    public static bool IsSupported => Avx512BW.IsSupported && Avx512F.IsSupported && UseAvx2;

    /// <summary>
    /// Dots rows <paramref name="w0"/>..<paramref name="w3"/> with <typeparamref name="TPairs"/> token pairs of
    /// <paramref name="panel"/> starting at <paramref name="pair"/>; writes row r, pair-token k to
    /// <c>results[r * 8 + k]</c>. Rows may repeat (ragged edges pass the last row again).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TDecoder, TPairs>(byte* w0, byte* w1, byte* w2, byte* w3, in Q8ActivationPanel panel, int pair, float* results)
        where TDecoder : ILegacyBlockDecoder
        where TPairs : ITileCount
    {
        int nb = panel.Blocks;
        nint qStride = panel.PairQuantStride, sStride = panel.PairScaleStride;
        sbyte* q = panel.Quants + pair * qStride;
        float* s = panel.Scales + pair * sStride;
        nint xb = TDecoder.BlockBytes;
        // Spreads a pair's two scales over the low and high halves.
        Vector512<int> spread = Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);

        Vector512<float> c00 = default, c10 = default, c20 = default, c30 = default;
        Vector512<float> c01 = default, c11 = default, c21 = default, c31 = default;
        Vector512<float> c02 = default, c12 = default, c22 = default, c32 = default;
        Vector512<float> c03 = default, c13 = default, c23 = default, c33 = default;
        for (int b = 0; b < nb; b++)
        {
            // The four rows' F16 scales widened together (lane for lane the scalar conversion).
            Vector128<float> dx = LegacyDot4.HalfToSingle4(Vector128.Create(
                (uint)*(ushort*)w0, *(ushort*)w1, *(ushort*)w2, *(ushort*)w3));
            Vector512<float> d0 = Vector512.Create(dx.GetElement(0)), d1 = Vector512.Create(dx.GetElement(1));
            Vector512<float> d2 = Vector512.Create(dx.GetElement(2)), d3 = Vector512.Create(dx.GetElement(3));
            Vector512<sbyte> x0 = Vector512.Create(TDecoder.Decode(ref *w0)), x1 = Vector512.Create(TDecoder.Decode(ref *w1));
            Vector512<sbyte> x2 = Vector512.Create(TDecoder.Decode(ref *w2)), x3 = Vector512.Create(TDecoder.Decode(ref *w3));
            Vector512<byte> a0 = Vector512.Abs(x0).AsByte(), a1 = Vector512.Abs(x1).AsByte();
            Vector512<byte> a2 = Vector512.Abs(x2).AsByte(), a3 = Vector512.Abs(x3).AsByte();

            PairStep(q, s, spread, d0, d1, d2, d3, x0, x1, x2, x3, a0, a1, a2, a3, ref c00, ref c10, ref c20, ref c30);
            if (TPairs.Count > 1)
                PairStep(q + qStride, s + sStride, spread, d0, d1, d2, d3, x0, x1, x2, x3, a0, a1, a2, a3, ref c01, ref c11, ref c21, ref c31);
            if (TPairs.Count > 2)
                PairStep(q + 2 * qStride, s + 2 * sStride, spread, d0, d1, d2, d3, x0, x1, x2, x3, a0, a1, a2, a3, ref c02, ref c12, ref c22, ref c32);
            if (TPairs.Count > 3)
                PairStep(q + 3 * qStride, s + 3 * sStride, spread, d0, d1, d2, d3, x0, x1, x2, x3, a0, a1, a2, a3, ref c03, ref c13, ref c23, ref c33);

            w0 += xb; w1 += xb; w2 += xb; w3 += xb;
            q += Q8ActivationPanel.PairBlockBytes;
            s += 2;
        }
        Store(results, c00, c10, c20, c30);
        if (TPairs.Count > 1) Store(results + 2, c01, c11, c21, c31);
        if (TPairs.Count > 2) Store(results + 4, c02, c12, c22, c32);
        if (TPairs.Count > 3) Store(results + 6, c03, c13, c23, c33);
    }

    /// <summary>One block of one token pair against the four rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PairStep(sbyte* q, float* s, Vector512<int> spread,
        Vector512<float> d0, Vector512<float> d1, Vector512<float> d2, Vector512<float> d3,
        Vector512<sbyte> x0, Vector512<sbyte> x1, Vector512<sbyte> x2, Vector512<sbyte> x3,
        Vector512<byte> a0, Vector512<byte> a1, Vector512<byte> a2, Vector512<byte> a3,
        ref Vector512<float> c0, ref Vector512<float> c1, ref Vector512<float> c2, ref Vector512<float> c3)
    {
        Vector512<sbyte> y = Vector512.Load(q);
        Vector512<sbyte> negY = -y;
        Vector512<float> dy = Avx512F.PermuteVar16x32(Vector512.Load(s), spread);
        c0 = Vector512.FusedMultiplyAdd(d0 * dy, Sums(a0, x0, y, negY), c0);
        c1 = Vector512.FusedMultiplyAdd(d1 * dy, Sums(a1, x1, y, negY), c1);
        c2 = Vector512.FusedMultiplyAdd(d2 * dy, Sums(a2, x2, y, negY), c2);
        c3 = Vector512.FusedMultiplyAdd(d3 * dy, Sums(a3, x3, y, negY), c3);
    }

    /// <summary>Sums of four adjacent quant products per 32-bit lane, as floats: |x| · sign(y, x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Sums(Vector512<byte> absX, Vector512<sbyte> x, Vector512<sbyte> y, Vector512<sbyte> negY)
    {
        // Where x is 0 this keeps y, but |x| is 0 there, so the product is 0 as with vpsignb.
        Vector512<sbyte> signedY = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<sbyte>.Zero), negY, y);
        Vector512<short> pairs = Avx512BW.MultiplyAddAdjacent(absX, signedY);
        return Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(pairs, Vector512.Create((short)1)));
    }

    /// <summary>Both tokens of one pair for the four rows: row r at <c>results[r * 8]</c> and <c>[r * 8 + 1]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* results, Vector512<float> c0, Vector512<float> c1, Vector512<float> c2, Vector512<float> c3)
    {
        results[0] = HorizontalSum(c0.GetLower()); results[1] = HorizontalSum(c0.GetUpper());
        results[8] = HorizontalSum(c1.GetLower()); results[9] = HorizontalSum(c1.GetUpper());
        results[16] = HorizontalSum(c2.GetLower()); results[17] = HorizontalSum(c2.GetUpper());
        results[24] = HorizontalSum(c3.GetLower()); results[25] = HorizontalSum(c3.GetUpper());
    }
}
