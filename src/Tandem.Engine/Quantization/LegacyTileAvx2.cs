using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Tandem.Engine.Quantization.LegacyQuantMath;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The integer part of an AVX2 tile step: per 32-bit lane, the exact sum of four quant products of a weight
/// block <c>x</c> and an activation block <c>y</c> (activations in [-127, 127], see <see cref="Q8ActivationPanel"/>).
/// Split into what depends on the weight block only (<see cref="RowTerm"/>, once per block and row) and on the
/// token only (<see cref="TokenTerm"/>, once per block and token), so the per-pair work is as short as possible.
/// </summary>
internal interface IBlockSums256
{
    static abstract Vector256<int> RowTerm(Vector256<sbyte> x);
    static abstract Vector256<sbyte> TokenTerm(Vector256<sbyte> y);
    static abstract Vector256<float> Sums(Vector256<sbyte> x, Vector256<int> rowTerm, Vector256<sbyte> tokenTerm);
}

/// <summary>
/// AVX-VNNI: <c>vpdpbusd</c> multiplies unsigned by signed bytes, so the activations are offset to y + 128 and the
/// row term starts the sum at -128 · Σx: one instruction per pair, exact for any bytes.
/// </summary>
internal readonly struct VnniBlockSums : IBlockSums256
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> RowTerm(Vector256<sbyte> x) =>
        Vector256<int>.Zero - AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Vector256.Create((byte)0x80), x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> TokenTerm(Vector256<sbyte> y) => y ^ Vector256.Create(unchecked((sbyte)0x80));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sums(Vector256<sbyte> x, Vector256<int> rowTerm, Vector256<sbyte> tokenTerm) =>
        Avx.ConvertToVector256Single(AvxVnni.MultiplyWideningAndAdd(rowTerm, tokenTerm.AsByte(), x));
}

/// <summary>
/// Plain AVX2: ggml's <c>mul_sum_i8_pairs_float</c>, |x| · sign(y, x) through <c>vpmaddubsw</c> + <c>vpmaddwd</c>
/// (no 16-bit pair saturates: |x| ≤ 128, |y| ≤ 127). The row term is |x|.
/// </summary>
internal readonly struct MaddubsBlockSums : IBlockSums256
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> RowTerm(Vector256<sbyte> x) => Avx2.Sign(x, x).AsInt32();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> TokenTerm(Vector256<sbyte> y) => y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sums(Vector256<sbyte> x, Vector256<int> rowTerm, Vector256<sbyte> tokenTerm)
    {
        Vector256<short> pairs = Avx2.MultiplyAddAdjacent(rowTerm.AsByte(), Avx2.Sign(tokenTerm, x));
        return Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1)));
    }
}

/// <summary>
/// The AVX2 micro-kernel of the tiled Q4_0/Q5_0/Q8_0 matmul: two weight rows × two token pairs (four tokens) at a
/// time, one 8-float register per (row, token), each receiving exactly the operations of
/// <see cref="LegacyDot4.Avx2Dot{TDecoder}"/> (exact integer lane sums, <c>fma(dx * dy, sum, acc)</c> per block,
/// <see cref="LegacyQuantMath.HorizontalSum"/> at the end), so every result is bit-identical to <c>Dot</c>.
/// A call covers the tile's four rows as two such halves: with 16 vector registers, 8 accumulators plus two
/// rows' quants and row terms fit, where four rows × one pair spilled half of its accumulators every block.
/// </summary>
internal static unsafe class LegacyTileAvx2
{
    /// <summary>The kernel for <see cref="Kernels.RowTiles"/>: up to two pairs per call.</summary>
    internal readonly struct Kernel<TDecoder, TSums> : ITileKernel<Q8ActivationPanel>
        where TDecoder : ILegacyBlockDecoder
        where TSums : IBlockSums256
    {
        public static int MaxPairs => 2;

        public static void Run(int pairs, byte* w0, byte* w1, byte* w2, byte* w3, in Q8ActivationPanel panel, int pair, float* results)
        {
            if (pairs == 2)
            {
                TwoRows<TDecoder, TSums, Count2>(w0, w1, panel, pair, results);
                TwoRows<TDecoder, TSums, Count2>(w2, w3, panel, pair, results + 16);
            }
            else
            {
                TwoRows<TDecoder, TSums, Count1>(w0, w1, panel, pair, results);
                TwoRows<TDecoder, TSums, Count1>(w2, w3, panel, pair, results + 16);
            }
        }
    }

    public static bool IsSupported => UseAvx2;

    /// <summary>
    /// Rows <paramref name="wa"/> and <paramref name="wb"/> against <typeparamref name="TPairs"/> (1 or 2) token pairs from
    /// <paramref name="pair"/>: row a, pair-token k to <c>results[k]</c>, row b to <c>results[8 + k]</c>.
    /// </summary>
    /// <remarks>
    /// The floating-point pipes bound this loop, so everything that is not a quant product, its conversion or its
    /// fma is taken off them: the rows' F16 scales come from <see cref="HalfToSingleTable"/> by broadcast loads, the
    /// eight scale products of a block (two rows × four tokens) are one vector multiply, stored and broadcast back by
    /// loads (where each product once cost a multiply, a shuffle and a broadcast). The products are the same F32
    /// values the single kernel forms one by one.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void TwoRows<TDecoder, TSums, TPairs>(byte* wa, byte* wb, in Q8ActivationPanel panel, int pair, float* results)
        where TDecoder : ILegacyBlockDecoder
        where TSums : IBlockSums256
        where TPairs : ITileCount
    {
        int nb = panel.Blocks;
        nint qStride = panel.PairQuantStride, sStride = panel.PairScaleStride;
        sbyte* q = panel.Quants + pair * qStride;
        float* s = panel.Scales + pair * sStride;
        nint xb = TDecoder.BlockBytes;
        float* halves = HalfToSingleTable.Values;
        // A block's scale products: row a × the four tokens, then row b × the four tokens.
        float* d = stackalloc float[8];

        // c<row><token of the tile>
        Vector256<float> ca0 = default, ca1 = default, ca2 = default, ca3 = default;
        Vector256<float> cb0 = default, cb1 = default, cb2 = default, cb3 = default;
        for (int b = 0; b < nb; b++)
        {
            Vector256<float> dx = Avx.Blend(Avx.BroadcastScalarToVector256(halves + *(ushort*)wa),
                Avx.BroadcastScalarToVector256(halves + *(ushort*)wb), 0xF0);
            // The tokens' scales: a pair's two are adjacent, the next pair's a stride on (never read past the panel).
            Vector128<double> dy = Sse2.LoadScalarVector128((double*)s);
            if (TPairs.Count > 1) dy = Sse2.LoadHigh(dy, (double*)(s + sStride));
            Avx.Store(d, dx * Vector256.Create(dy.AsSingle(), dy.AsSingle()));

            Vector256<sbyte> xa = TDecoder.Decode(ref *wa), xbq = TDecoder.Decode(ref *wb);
            Vector256<int> ka = TSums.RowTerm(xa), kb = TSums.RowTerm(xbq);

            TokenStep<TSums>(q, d, xa, xbq, ka, kb, ref ca0, ref cb0);
            TokenStep<TSums>(q + 32, d + 1, xa, xbq, ka, kb, ref ca1, ref cb1);
            if (TPairs.Count > 1)
            {
                TokenStep<TSums>(q + qStride, d + 2, xa, xbq, ka, kb, ref ca2, ref cb2);
                TokenStep<TSums>(q + qStride + 32, d + 3, xa, xbq, ka, kb, ref ca3, ref cb3);
            }

            wa += xb; wb += xb;
            q += Q8ActivationPanel.PairBlockBytes;
            s += 2;
        }
        results[0] = HorizontalSum(ca0); results[1] = HorizontalSum(ca1);
        results[8] = HorizontalSum(cb0); results[9] = HorizontalSum(cb1);
        if (TPairs.Count > 1)
        {
            results[2] = HorizontalSum(ca2); results[3] = HorizontalSum(ca3);
            results[10] = HorizontalSum(cb2); results[11] = HorizontalSum(cb3);
        }
    }

    /// <summary>One block of one token against the two rows; <paramref name="d"/> points at row a's scale product.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TokenStep<TSums>(sbyte* q, float* d,
        Vector256<sbyte> xa, Vector256<sbyte> xb, Vector256<int> ka, Vector256<int> kb,
        ref Vector256<float> ca, ref Vector256<float> cb)
        where TSums : IBlockSums256
    {
        Vector256<sbyte> y = TSums.TokenTerm(Vector256.Load(q));
        ca = Vector256.FusedMultiplyAdd(Avx.BroadcastScalarToVector256(d), TSums.Sums(xa, ka, y), ca);
        cb = Vector256.FusedMultiplyAdd(Avx.BroadcastScalarToVector256(d + 4), TSums.Sums(xb, kb, y), cb);
    }
}
