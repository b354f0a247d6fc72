using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Kernels;
using static Tandem.Engine.Quantization.KQuantBlocks;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The AVX2 matrix × one-token kernel of Q4_K (batch-1 decode): four weight rows, one 8-lane register each, against
/// the token of a one-token <see cref="Q8KActivationPanel"/>. Each register receives exactly what
/// <c>RowQ4_K.DotAvx2</c>'s accumulator receives (per super-block the exact integer sums, scale · nibble · quant,
/// through <c>vpmaddubsw</c> and <typeparamref name="TSums"/>; <c>fma(yd * xd, sums, acc)</c>; the 4-lane mins term
/// <c>fma(-yd * xmin, mins · sub-block sums, accM)</c>, two rows per register; <see cref="KQuantSimd.FinishWithMins"/>
/// at the end), so every result is bit-identical to <c>Dot</c>. Against the row-by-row dot, the token's quants and
/// sub-block sums are loaded once for four rows, the rows' headers are unpacked two to a register instead of with
/// scalar code, and with AVX-VNNI <c>vpdpwssd</c> does the scale multiply and the add in one instruction.
/// </summary>
internal static unsafe class Q4KGemvAvx2
{
    public static bool IsSupported => Avx2.IsSupported && Fma.IsSupported;

    internal readonly struct Kernel<TSums> : IGemvKernel<Q8KActivationPanel> where TSums : IScaledSums256
    {
        public static int MaxRows => 4;

        /// <summary>One step per pair of sub-blocks (64 columns): four per super-block.</summary>
        public static int Steps(int cols) => cols / 64;

        public static void Run(int rows, byte* w0, long rowBytes, in Q8KActivationPanel panel, float* results, SpreadPrefetch next) =>
            FourRows<TSums>(rows, w0, rowBytes, panel, results, next);
    }

    /// <summary>
    /// Rows <paramref name="w0"/>.. (<paramref name="rows"/> of them real, 1..4; missing rows repeat the last real one and
    /// their results are not written) against token 0 of <paramref name="panel"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void FourRows<TSums>(int rows, byte* w0, long rowBytes, in Q8KActivationPanel panel, float* results,
        SpreadPrefetch next)
        where TSums : IScaledSums256
    {
        byte* w1 = rows > 1 ? w0 + rowBytes : w0;
        byte* w2 = rows > 2 ? w0 + 2 * rowBytes : w1;
        byte* w3 = rows > 3 ? w0 + 3 * rowBytes : w2;
        int nb = panel.Blocks;
        sbyte* q = panel.Quants;
        float* s = panel.Scales;
        short* m = panel.SubBlockSums;

        // c<r>: row r's super-block sums; n01, n23: the mins terms of rows 0 and 1, 2 and 3, a 128-bit lane each.
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector256<float> n01 = default, n23 = default;
        for (int b = 0; b < nb; b++)
        {
            // Headers (d, dmin, packed scales) of rows 0 and 1, 2 and 3, a lane each.
            Vector256<uint> h01 = Vector256.Create(Vector128.Load((uint*)w0), Vector128.Load((uint*)w1));
            Vector256<uint> h23 = Vector256.Create(Vector128.Load((uint*)w2), Vector128.Load((uint*)w3));
            // Each header's first dword (xd | xmin << 16) twice per lane, then its low and high F16 widened:
            // elements xd0, xmin0, xd2, xmin2, xd1, xmin1, xd3, xmin3.
            Vector256<uint> first = Avx.Shuffle(h01.AsSingle(), h23.AsSingle(), 0).AsUInt32();
            Vector256<float> scales = FloatConversions.HalfToSingle(Avx2.ShiftRightLogicalVariable(first,
                Vector256.Create(0u, 16, 0, 16, 0, 16, 0, 16)));
            float yd = s[0];
            Vector256<float> d = Vector256.Create(yd) * scales; // the dot's d = yd * xd in the even elements
            Vector256<float> dmin = Vector256.Create(-yd) * scales; // its dmin = -yd * xmin in the odd ones

            // Each lane: a row's eight 6-bit scales in bytes 0..7, its mins in 8..15.
            Vector256<uint> sm01 = KQuantScales.Unpack(h01), sm23 = KQuantScales.Unpack(h23);
            Vector256<short> subBlockSums = Vector256.Load(m); // the token's eight, in both lanes
            n01 = Vector256.FusedMultiplyAdd(Avx2.PermuteVar8x32(dmin, Vector256.Create(1, 1, 1, 1, 5, 5, 5, 5)), MinsTerm(sm01, subBlockSums), n01);
            n23 = Vector256.FusedMultiplyAdd(Avx2.PermuteVar8x32(dmin, Vector256.Create(3, 3, 3, 3, 7, 7, 7, 7)), MinsTerm(sm23, subBlockSums), n23);

            // Each row's scale bytes in both lanes.
            Vector256<byte> r0 = Avx2.Permute2x128(sm01, sm01, 0x00).AsByte(), r1 = Avx2.Permute2x128(sm01, sm01, 0x11).AsByte();
            Vector256<byte> r2 = Avx2.Permute2x128(sm23, sm23, 0x00).AsByte(), r3 = Avx2.Permute2x128(sm23, sm23, 0x11).AsByte();
            Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default;
            SubBlockPairs<TSums>(0, q, w0, w1, w2, w3, r0, r1, r2, r3, ref i0, ref i1, ref i2, ref i3, ref next);
            SubBlockPairs<TSums>(1, q, w0, w1, w2, w3, r0, r1, r2, r3, ref i0, ref i1, ref i2, ref i3, ref next);
            SubBlockPairs<TSums>(2, q, w0, w1, w2, w3, r0, r1, r2, r3, ref i0, ref i1, ref i2, ref i3, ref next);
            SubBlockPairs<TSums>(3, q, w0, w1, w2, w3, r0, r1, r2, r3, ref i0, ref i1, ref i2, ref i3, ref next);

            c0 = Vector256.FusedMultiplyAdd(Avx2.PermuteVar8x32(d, Vector256.Create(0)), Avx.ConvertToVector256Single(i0), c0);
            c1 = Vector256.FusedMultiplyAdd(Avx2.PermuteVar8x32(d, Vector256.Create(4)), Avx.ConvertToVector256Single(i1), c1);
            c2 = Vector256.FusedMultiplyAdd(Avx2.PermuteVar8x32(d, Vector256.Create(2)), Avx.ConvertToVector256Single(i2), c2);
            c3 = Vector256.FusedMultiplyAdd(Avx2.PermuteVar8x32(d, Vector256.Create(6)), Avx.ConvertToVector256Single(i3), c3);

            w0 += Q4KBytes; w1 += Q4KBytes; w2 += Q4KBytes; w3 += Q4KBytes;
            q += Q8KActivationPanel.PairBlockBytes;
            s += 2;
            m += 16;
        }
        results[0] = KQuantSimd.FinishWithMins(c0, n01.GetLower());
        if (rows > 1) results[1] = KQuantSimd.FinishWithMins(c1, n01.GetUpper());
        if (rows > 2) results[2] = KQuantSimd.FinishWithMins(c2, n23.GetLower());
        if (rows > 3) results[3] = KQuantSimd.FinishWithMins(c3, n23.GetUpper());
    }

    /// <summary>
    /// Two rows' mins (bytes 8..15 of each lane of <paramref name="scalesAndMins"/>) times the token's sub-block sums,
    /// adjacent pairs added: per lane the four integers of the dot's <c>vpmaddwd</c>, as floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MinsTerm(Vector256<uint> scalesAndMins, Vector256<short> subBlockSums)
    {
        // pshufb index 0x80 | k zeroes a byte: each mins byte becomes a 16-bit element.
        Vector256<byte> widenMins = Vector256.Create(Vector128.Create(
            (ushort)0x8008, 0x8009, 0x800A, 0x800B, 0x800C, 0x800D, 0x800E, 0x800F)).AsByte();
        Vector256<short> mins = Avx2.Shuffle(scalesAndMins.AsByte(), widenMins).AsInt16();
        return Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(mins, subBlockSums));
    }

    /// <summary>Sub-blocks 2j and 2j + 1 (64 columns) of the four rows against the token; the next group's share fetched.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SubBlockPairs<TSums>(int j, sbyte* q, byte* w0, byte* w1, byte* w2, byte* w3,
        Vector256<byte> r0, Vector256<byte> r1, Vector256<byte> r2, Vector256<byte> r3,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3, ref SpreadPrefetch next)
        where TSums : IScaledSums256
    {
        next.Step();
        // The first halves of the panel's chunks 2j and 2j + 1: the token's quants 64j..64j+31 and 64j+32..64j+63.
        Vector256<sbyte> yl = Vector256.Load(q + 128 * j), yh = Vector256.Load(q + 128 * j + 64);
        // pshufb indices that widen scale byte 2j (2j + 1) into every 16-bit element.
        Vector256<byte> pickL = Vector256.Create((ushort)(0x8000 | (2 * j))).AsByte();
        Vector256<byte> pickH = Vector256.Create((ushort)(0x8000 | (2 * j + 1))).AsByte();
        i0 = Sums<TSums>(w0, j, r0, pickL, pickH, yl, yh, i0);
        i1 = Sums<TSums>(w1, j, r1, pickL, pickH, yl, yh, i1);
        i2 = Sums<TSums>(w2, j, r2, pickL, pickH, yl, yh, i2);
        i3 = Sums<TSums>(w3, j, r3, pickL, pickH, yl, yh, i3);
    }

    /// <summary>
    /// Row <paramref name="w"/>, sub-blocks 2j and 2j + 1, added into <paramref name="acc"/>: per 32-bit lane
    /// scale · (four nibble · quant products), as the dot's <c>p32l + p32h</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Sums<TSums>(byte* w, int j, Vector256<byte> scaleBytes, Vector256<byte> pickL,
        Vector256<byte> pickH, Vector256<sbyte> yl, Vector256<sbyte> yh, Vector256<int> acc)
        where TSums : IScaledSums256
    {
        Vector256<byte> bits = Vector256.Load(w + 16 + 32 * j);
        Vector256<byte> low = bits & Vector256.Create((byte)0x0F);
        Vector256<byte> high = Vector256.ShiftRightLogical(bits.AsUInt16(), 4).AsByte() & Vector256.Create((byte)0x0F);
        acc = TSums.Add(acc, Avx2.MultiplyAddAdjacent(low, yl), Avx2.Shuffle(scaleBytes, pickL).AsInt16());
        return TSums.Add(acc, Avx2.MultiplyAddAdjacent(high, yh), Avx2.Shuffle(scaleBytes, pickH).AsInt16());
    }
}
