using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Tandem.Engine.Quantization.KQuantBlocks;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The AVX-512 micro-kernel of the tiled Q4_K matmul: four weight rows × up to two token pairs of a
/// <see cref="Q8KActivationPanel"/>. As in <see cref="LegacyTileAvx512"/> each 512-bit accumulator holds one row
/// against one token pair, its halves receiving exactly what <c>RowQ4_K.DotAvx2</c>'s 8-lane accumulator receives
/// for each token: per super-block the exact integer sums (nibbles · quants through <c>vpmaddubsw</c>, times the
/// sub-block scale through <c>vpmaddwd</c>), then <c>fma(yd * xd, sums, acc)</c>; beside it the 4-lane mins term
/// <c>fma(-yd * xmin, mins · sub-block sums, accM)</c> (two tokens per 256-bit register); at the end ggml's
/// <c>hsum_float_8</c> plus the mins' (0+2)+(1+3). So every result is bit-identical to <c>RowQ4_K.Dot</c>.
/// The super-block's nibbles and scales are unpacked once for all tokens of the tile.
/// </summary>
internal static unsafe class Q4KTileAvx512
{
    public static bool IsSupported => LegacyTileAvx512.IsSupported;

    /// <summary>The kernel for <see cref="Kernels.RowTiles"/>: up to two pairs per call.</summary>
    internal readonly struct Kernel : ITileKernel<Q8KActivationPanel>
    {
        public static int MaxPairs => 2;

        public static void Run(int pairs, byte* w0, byte* w1, byte* w2, byte* w3, in Q8KActivationPanel panel, int pair, float* results)
        {
            if (pairs == 2) Tile<Count2>(w0, w1, w2, w3, panel, pair, results);
            else Tile<Count1>(w0, w1, w2, w3, panel, pair, results);
        }
    }

    /// <summary>
    /// Dots rows <paramref name="w0"/>..<paramref name="w3"/> with <typeparamref name="TPairs"/> (1 or 2) token pairs of
    /// <paramref name="panel"/> from <paramref name="pair"/>; writes row r, pair-token k to <c>results[r * 8 + k]</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TPairs>(byte* w0, byte* w1, byte* w2, byte* w3, in Q8KActivationPanel panel, int pair, float* results)
        where TPairs : ITileCount
    {
        int nb = panel.Blocks;
        nint qStride = (nint)nb * Q8KActivationPanel.PairBlockBytes, sStride = (nint)nb * 2, mStride = (nint)nb * 16;
        sbyte* q = panel.Quants + pair * qStride;
        float* s = panel.Scales + pair * sStride;
        short* m = panel.SubBlockSums + pair * mStride;

        // c<row><pair>: the super-block sums' accumulator; n<row><pair>: the mins term's.
        Vector512<float> c00 = default, c10 = default, c20 = default, c30 = default;
        Vector512<float> c01 = default, c11 = default, c21 = default, c31 = default;
        Vector256<float> n00 = default, n10 = default, n20 = default, n30 = default;
        Vector256<float> n01 = default, n11 = default, n21 = default, n31 = default;
        for (int b = 0; b < nb; b++)
        {
            ulong sc0 = Scales(w0), sc1 = Scales(w1), sc2 = Scales(w2), sc3 = Scales(w3);
            Vector512<int> i00 = default, i10 = default, i20 = default, i30 = default;
            Vector512<int> i01 = default, i11 = default, i21 = default, i31 = default;
            for (int j = 0; j < 4; j++)
            {
                sbyte* yl = q + 128 * j, yh = yl + 64;
                SubBlockPair<TPairs>(w0, sc0, j, yl, yh, qStride, ref i00, ref i01);
                SubBlockPair<TPairs>(w1, sc1, j, yl, yh, qStride, ref i10, ref i11);
                SubBlockPair<TPairs>(w2, sc2, j, yl, yh, qStride, ref i20, ref i21);
                SubBlockPair<TPairs>(w3, sc3, j, yl, yh, qStride, ref i30, ref i31);
            }
            Vector512<float> yd = Vector512.Create(Vector256.Create(s[0]), Vector256.Create(s[1]));
            Vector256<float> negYd = -Vector256.Create(Vector128.Create(s[0]), Vector128.Create(s[1]));
            Accumulate(w0, yd, negYd, m, i00, ref c00, ref n00);
            Accumulate(w1, yd, negYd, m, i10, ref c10, ref n10);
            Accumulate(w2, yd, negYd, m, i20, ref c20, ref n20);
            Accumulate(w3, yd, negYd, m, i30, ref c30, ref n30);
            if (TPairs.Count > 1)
            {
                Vector512<float> yd1 = Vector512.Create(Vector256.Create(s[sStride]), Vector256.Create(s[sStride + 1]));
                Vector256<float> negYd1 = -Vector256.Create(Vector128.Create(s[sStride]), Vector128.Create(s[sStride + 1]));
                Accumulate(w0, yd1, negYd1, m + mStride, i01, ref c01, ref n01);
                Accumulate(w1, yd1, negYd1, m + mStride, i11, ref c11, ref n11);
                Accumulate(w2, yd1, negYd1, m + mStride, i21, ref c21, ref n21);
                Accumulate(w3, yd1, negYd1, m + mStride, i31, ref c31, ref n31);
            }
            w0 += Q4KBytes; w1 += Q4KBytes; w2 += Q4KBytes; w3 += Q4KBytes;
            q += Q8KActivationPanel.PairBlockBytes;
            s += 2;
            m += 16;
        }
        Store(results, c00, n00); Store(results + 8, c10, n10); Store(results + 16, c20, n20); Store(results + 24, c30, n30);
        if (TPairs.Count > 1)
        {
            Store(results + 2, c01, n01); Store(results + 10, c11, n11); Store(results + 18, c21, n21); Store(results + 26, c31, n31);
        }
    }

    /// <summary>The super-block's eight 6-bit sub-block scales, byte k holding scale k (ggml's utmp unpacking).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Scales(byte* w)
    {
        var (s0, s1, _, _) = KQuantScales.Unpack(w + 4);
        return s0 | ((ulong)s1 << 32);
    }

    /// <summary>Sub-blocks 2j and 2j+1 of one row (64 nibbles, two scales) against both token pairs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SubBlockPair<TPairs>(byte* w, ulong scales, int j, sbyte* yl, sbyte* yh, nint qStride,
        ref Vector512<int> sums0, ref Vector512<int> sums1)
        where TPairs : ITileCount
    {
        Vector512<short> scaleL = Vector512.Create((short)(byte)(scales >> (16 * j)));
        Vector512<short> scaleH = Vector512.Create((short)(byte)(scales >> (16 * j + 8)));
        // Not Avx512F.BroadcastVector256ToVector512: .NET 10.0's JIT encodes its memory displacement wrongly
        // (vbroadcasti64x4 [base+index+16] read 16 bytes further on), so load and duplicate instead.
        Vector512<byte> bits = Vector512.Create(Vector256.Load(w + 16 + 32 * j));
        Vector512<byte> low = bits & Vector512.Create((byte)0x0F);
        Vector512<byte> high = Vector512.ShiftRightLogical(bits.AsUInt16(), 4).AsByte() & Vector512.Create((byte)0x0F);
        sums0 += Avx512BW.MultiplyAddAdjacent(scaleL, Avx512BW.MultiplyAddAdjacent(low, Vector512.Load(yl)))
            + Avx512BW.MultiplyAddAdjacent(scaleH, Avx512BW.MultiplyAddAdjacent(high, Vector512.Load(yh)));
        if (TPairs.Count > 1)
            sums1 += Avx512BW.MultiplyAddAdjacent(scaleL, Avx512BW.MultiplyAddAdjacent(low, Vector512.Load(yl + qStride)))
                + Avx512BW.MultiplyAddAdjacent(scaleH, Avx512BW.MultiplyAddAdjacent(high, Vector512.Load(yh + qStride)));
    }

    /// <summary>
    /// The end of one super-block for one row and one token pair: <c>acc = fma(yd * xd, sums, acc)</c> and the
    /// mins term <c>accM = fma(-yd * xmin, mins · sub-block sums, accM)</c>, each half for its token.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate(byte* w, Vector512<float> yd, Vector256<float> negYd, short* subBlockSums,
        Vector512<int> sums, ref Vector512<float> acc, ref Vector256<float> accM)
    {
        float xd = HalfToFloat(Unsafe.ReadUnaligned<ushort>(w));
        float xmin = HalfToFloat(Unsafe.ReadUnaligned<ushort>(w + 2));
        acc = Vector512.FusedMultiplyAdd(yd * Vector512.Create(xd), Avx512F.ConvertToVector512Single(sums), acc);
        var (_, _, mn0, mn1) = KQuantScales.Unpack(w + 4);
        Vector128<short> mins = Sse41.ConvertToVector128Int16(Vector128.CreateScalar(mn0 | ((ulong)mn1 << 32)).AsByte());
        Vector256<int> products = Avx2.MultiplyAddAdjacent(Vector256.Create(mins, mins), Vector256.Load(subBlockSums));
        accM = Vector256.FusedMultiplyAdd(negYd * Vector256.Create(xmin), Avx.ConvertToVector256Single(products), accM);
    }

    /// <summary>Both tokens of one pair for one row: <c>hsum_float_8</c> of the accumulator plus the reduced mins term.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* results, Vector512<float> acc, Vector256<float> accM)
    {
        results[0] = KQuantSimd.FinishWithMins(acc.GetLower(), accM.GetLower());
        results[1] = KQuantSimd.FinishWithMins(acc.GetUpper(), accM.GetUpper());
    }
}
