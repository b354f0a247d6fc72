using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The portable micro-kernel of the tiled Q4_0/Q5_0/Q8_0 matmul, for machines without AVX2 (Arm64 NEON, old x64):
/// four weight rows × one token pair with cross-platform <see cref="Vector128"/> operations only. Each (row, token)
/// follows the scalar dot (<c>DotScalar</c>, ggml's generic kernel) exactly: the block's integer sum is exact
/// (16-bit products, 32-bit sums: any order gives the same integer), then <c>sum += sumi * (dx * dy)</c> in F32,
/// block by block. The weight block is decoded and widened once for both tokens.
/// </summary>
internal static unsafe class LegacyTilePortable
{
    /// <summary>The kernel for <see cref="Kernels.RowTiles"/>: one pair per call.</summary>
    internal readonly struct Kernel<TDecoder> : ITileKernel<Q8ActivationPanel> where TDecoder : ILegacyBlockDecoder
    {
        public static int MaxPairs => 1;

        public static void Run(int pairs, byte* w0, byte* w1, byte* w2, byte* w3, in Q8ActivationPanel panel, int pair, float* results) =>
            Tile<TDecoder>(w0, w1, w2, w3, panel, pair, results);
    }

    /// <inheritdoc cref="LegacyTileAvx512.Tile{TDecoder, TPairs}"/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TDecoder>(byte* w0, byte* w1, byte* w2, byte* w3, in Q8ActivationPanel panel, int pair, float* results)
        where TDecoder : ILegacyBlockDecoder
    {
        int nb = panel.Blocks;
        sbyte* q = panel.Quants + pair * panel.PairQuantStride;
        float* s = panel.Scales + pair * panel.PairScaleStride;
        nint xb = TDecoder.BlockBytes;
        float c00 = 0, c01 = 0, c10 = 0, c11 = 0, c20 = 0, c21 = 0, c30 = 0, c31 = 0;
        for (int b = 0; b < nb; b++)
        {
            Widen(Vector128.Load(q), Vector128.Load(q + 16), out var ya0, out var ya1, out var ya2, out var ya3);
            Widen(Vector128.Load(q + 32), Vector128.Load(q + 48), out var yb0, out var yb1, out var yb2, out var yb3);
            float da = s[0], db = s[1];

            Row<TDecoder>(w0, da, db, ya0, ya1, ya2, ya3, yb0, yb1, yb2, yb3, ref c00, ref c01);
            Row<TDecoder>(w1, da, db, ya0, ya1, ya2, ya3, yb0, yb1, yb2, yb3, ref c10, ref c11);
            Row<TDecoder>(w2, da, db, ya0, ya1, ya2, ya3, yb0, yb1, yb2, yb3, ref c20, ref c21);
            Row<TDecoder>(w3, da, db, ya0, ya1, ya2, ya3, yb0, yb1, yb2, yb3, ref c30, ref c31);

            w0 += xb; w1 += xb; w2 += xb; w3 += xb;
            q += Q8ActivationPanel.PairBlockBytes;
            s += 2;
        }
        results[0] = c00; results[1] = c01;
        results[8] = c10; results[9] = c11;
        results[16] = c20; results[17] = c21;
        results[24] = c30; results[25] = c31;
    }

    /// <summary>One weight block against both tokens of the pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row<TDecoder>(byte* w, float da, float db,
        Vector128<short> ya0, Vector128<short> ya1, Vector128<short> ya2, Vector128<short> ya3,
        Vector128<short> yb0, Vector128<short> yb1, Vector128<short> yb2, Vector128<short> yb3,
        ref float ca, ref float cb)
        where TDecoder : ILegacyBlockDecoder
    {
        TDecoder.DecodePortable(ref *w, out var low, out var high);
        Widen(low, high, out var x0, out var x1, out var x2, out var x3);
        float dx = FloatConversions.HalfToSingle(*(ushort*)w);
        // As DotScalar: sumi converted to float, times the F32 scale product, added (no FMA).
        ca += BlockSum(x0, x1, x2, x3, ya0, ya1, ya2, ya3) * (dx * da);
        cb += BlockSum(x0, x1, x2, x3, yb0, yb1, yb2, yb3) * (dx * db);
    }

    /// <summary>32 signed bytes as four vectors of 8 shorts, in element order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Widen(Vector128<sbyte> low, Vector128<sbyte> high,
        out Vector128<short> v0, out Vector128<short> v1, out Vector128<short> v2, out Vector128<short> v3)
    {
        (v0, v1) = Vector128.Widen(low);
        (v2, v3) = Vector128.Widen(high);
    }

    /// <summary>The exact integer dot of 32 quants (each product fits 16 bits: |x · y| ≤ 128 · 128).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int BlockSum(Vector128<short> x0, Vector128<short> x1, Vector128<short> x2, Vector128<short> x3,
        Vector128<short> y0, Vector128<short> y1, Vector128<short> y2, Vector128<short> y3)
    {
        Vector128<short> p0 = x0 * y0, p1 = x1 * y1, p2 = x2 * y2, p3 = x3 * y3;
        Vector128<int> sum = (Vector128.WidenLower(p0) + Vector128.WidenUpper(p0)) + (Vector128.WidenLower(p1) + Vector128.WidenUpper(p1))
            + (Vector128.WidenLower(p2) + Vector128.WidenUpper(p2)) + (Vector128.WidenLower(p3) + Vector128.WidenUpper(p3));
        return Vector128.Sum(sum);
    }
}
