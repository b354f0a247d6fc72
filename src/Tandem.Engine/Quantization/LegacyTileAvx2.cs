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
/// The AVX2 micro-kernel of the tiled Q4_0/Q5_0/Q8_0 matmul: four weight rows × one token pair, one 8-float
/// register per (row, token), each receiving exactly the operations of <see cref="LegacyDot4.Avx2Dot{TDecoder}"/>
/// (exact integer lane sums, <c>fma(dx * dy, sum, acc)</c> per block, <see cref="LegacyQuantMath.HorizontalSum"/>
/// at the end), so every result is bit-identical to <c>Dot</c>. With 16 vector registers this shape (8
/// accumulators, 4 weight blocks, 4 row terms) just fits; two pairs spilled and measured no faster.
/// </summary>
internal static unsafe class LegacyTileAvx2
{
    /// <summary>The kernel for <see cref="Kernels.RowTiles"/>: one pair per call.</summary>
    internal readonly struct Kernel<TDecoder, TSums> : ITileKernel<Q8ActivationPanel>
        where TDecoder : ILegacyBlockDecoder
        where TSums : IBlockSums256
    {
        public static int MaxPairs => 1;

        public static void Run(int pairs, byte* w0, byte* w1, byte* w2, byte* w3, in Q8ActivationPanel panel, int pair, float* results) =>
            Tile<TDecoder, TSums>(w0, w1, w2, w3, panel, pair, results);
    }

    public static bool IsSupported => UseAvx2;

    /// <inheritdoc cref="LegacyTileAvx512.Tile{TDecoder, TPairs}"/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TDecoder, TSums>(byte* w0, byte* w1, byte* w2, byte* w3, in Q8ActivationPanel panel, int pair, float* results)
        where TDecoder : ILegacyBlockDecoder
        where TSums : IBlockSums256
    {
        int nb = panel.Blocks;
        sbyte* q = panel.Quants + pair * panel.PairQuantStride;
        float* s = panel.Scales + pair * panel.PairScaleStride;
        nint xb = TDecoder.BlockBytes;

        // c<row><token of the pair>
        Vector256<float> c00 = default, c10 = default, c20 = default, c30 = default;
        Vector256<float> c01 = default, c11 = default, c21 = default, c31 = default;
        for (int b = 0; b < nb; b++)
        {
            Vector128<float> dx = LegacyDot4.HalfToSingle4(Vector128.Create(
                (uint)*(ushort*)w0, *(ushort*)w1, *(ushort*)w2, *(ushort*)w3));
            Vector256<sbyte> x0 = TDecoder.Decode(ref *w0), x1 = TDecoder.Decode(ref *w1);
            Vector256<sbyte> x2 = TDecoder.Decode(ref *w2), x3 = TDecoder.Decode(ref *w3);
            Vector256<int> k0 = TSums.RowTerm(x0), k1 = TSums.RowTerm(x1), k2 = TSums.RowTerm(x2), k3 = TSums.RowTerm(x3);

            TokenStep<TSums>(q, s[0], dx, x0, x1, x2, x3, k0, k1, k2, k3, ref c00, ref c10, ref c20, ref c30);
            TokenStep<TSums>(q + 32, s[1], dx, x0, x1, x2, x3, k0, k1, k2, k3, ref c01, ref c11, ref c21, ref c31);

            w0 += xb; w1 += xb; w2 += xb; w3 += xb;
            q += Q8ActivationPanel.PairBlockBytes;
            s += 2;
        }
        Store(results, c00, c10, c20, c30);
        Store(results + 1, c01, c11, c21, c31);
    }

    /// <summary>One block of one token against the four rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TokenStep<TSums>(sbyte* q, float dy, Vector128<float> dx,
        Vector256<sbyte> x0, Vector256<sbyte> x1, Vector256<sbyte> x2, Vector256<sbyte> x3,
        Vector256<int> k0, Vector256<int> k1, Vector256<int> k2, Vector256<int> k3,
        ref Vector256<float> c0, ref Vector256<float> c1, ref Vector256<float> c2, ref Vector256<float> c3)
        where TSums : IBlockSums256
    {
        Vector256<sbyte> y = TSums.TokenTerm(Vector256.Load(q));
        // dx * dy as four float products, the same values as the single kernel's scalar product.
        Vector128<float> d = dx * Vector128.Create(dy);
        c0 = Vector256.FusedMultiplyAdd(Vector256.Create(d.GetElement(0)), TSums.Sums(x0, k0, y), c0);
        c1 = Vector256.FusedMultiplyAdd(Vector256.Create(d.GetElement(1)), TSums.Sums(x1, k1, y), c1);
        c2 = Vector256.FusedMultiplyAdd(Vector256.Create(d.GetElement(2)), TSums.Sums(x2, k2, y), c2);
        c3 = Vector256.FusedMultiplyAdd(Vector256.Create(d.GetElement(3)), TSums.Sums(x3, k3, y), c3);
    }

    /// <summary>One token for the four rows: row r at <c>results[r * 8]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* results, Vector256<float> c0, Vector256<float> c1, Vector256<float> c2, Vector256<float> c3)
    {
        results[0] = HorizontalSum(c0);
        results[8] = HorizontalSum(c1);
        results[16] = HorizontalSum(c2);
        results[24] = HorizontalSum(c3);
    }
}
