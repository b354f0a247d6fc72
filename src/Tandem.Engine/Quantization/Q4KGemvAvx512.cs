using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Kernels;
using static Tandem.Engine.Quantization.KQuantBlocks;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The AVX-512 matrix × one-token kernel of Q4_K (batch-1 decode): eight weight rows, two per 512-bit register. It is
/// <see cref="Q4KTileAvx512"/> turned around as <see cref="LegacyGemvAvx512"/> turns the legacy tiles: there a register
/// holds one row against a token pair; here a row pair against the one token (which a one-token
/// <see cref="Q8KActivationPanel"/> holds in both halves of each chunk), the low 256 bits receiving exactly what
/// <c>RowQ4_K.DotAvx2</c>'s 8-lane accumulator receives for the first row and the high 256 bits for the second:
/// per super-block the exact integer sums (nibbles · quants through <c>vpmaddubsw</c>, times the sub-block scale
/// through <c>vpmaddwd</c>), then <c>fma(yd * xd, sums, acc)</c>; beside them the 4-lane mins term
/// <c>fma(-yd * xmin, mins · sub-block sums, accM)</c>, four rows per register; at the end ggml's <c>hsum_float_8</c>
/// plus the mins' (0 + 2) + (1 + 3). So every row's result is bit-identical to <c>RowQ4_K.Dot</c>, where the row-by-row
/// dot computes 64 products per 256-bit step and unpacks each block's scales, mins and F16 scales with scalar code:
/// here a 512-bit step computes 128, the token's quants are loaded once for eight rows, and four rows' block headers
/// are unpacked together in vector registers. .NET 10 exposes no 512-bit VNNI (<c>vpdpwssd</c> would fold each
/// <c>vpmaddwd</c> and its add into one instruction).
/// </summary>
internal static unsafe class Q4KGemvAvx512
{
    public static bool IsSupported => Q4KTileAvx512.IsSupported;

    internal readonly struct Kernel : IGemvKernel<Q8KActivationPanel>
    {
        public static int MaxRows => 8;

        /// <summary>One step per pair of sub-blocks (64 columns): four per super-block.</summary>
        public static int Steps(int cols) => cols / 64;

        public static void Run(int rows, byte* w0, long rowBytes, in Q8KActivationPanel panel, float* results, SpreadPrefetch next)
        {
            switch ((rows + 1) / 2)
            {
                case 4: Rows<Count4>(rows, w0, rowBytes, panel, results, next); break;
                case 3: Rows<Count3>(rows, w0, rowBytes, panel, results, next); break;
                case 2: Rows<Count2>(rows, w0, rowBytes, panel, results, next); break;
                default: Rows<Count1>(rows, w0, rowBytes, panel, results, next); break;
            }
        }
    }

    /// <summary>
    /// <typeparamref name="TRowPairs"/> pairs of rows from <paramref name="w0"/> (<paramref name="rows"/> of them real; a
    /// missing last row repeats the one before and its result is not written) against token 0 of <paramref name="panel"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows<TRowPairs>(int rows, byte* w0, long rowBytes, in Q8KActivationPanel panel, float* results,
        SpreadPrefetch next)
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
        short* m = panel.SubBlockSums;

        // c<k>: row pair k's super-block sums (rows 2k, 2k + 1); n<k>: the mins terms of rows 4k..4k+3, a lane each.
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector512<float> n0 = default, n1 = default;
        for (int b = 0; b < nb; b++)
        {
            Vector512<uint> h0 = Headers(w0, w1, w2, w3);
            Vector512<uint> h1 = TRowPairs.Count > 2 ? Headers(w4, w5, w6, w7) : h0;
            // xd of rows 0..7 in elements 0..7 and their xmin in 8..15: the low and high F16 of each header's first dword.
            Vector512<float> scales = FloatConversions.HalfToSingle(Avx512F.ShiftRightLogicalVariable(
                Avx512F.PermuteVar16x32x2(h0, Vector512.Create(0u, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28), h1),
                Vector512.Create(0u, 0, 0, 0, 0, 0, 0, 0, 16, 16, 16, 16, 16, 16, 16, 16)));
            float yd = s[0];
            Vector512<float> d = Vector512.Create(yd) * scales; // elements 0..7: yd * xd, the dot's d
            Vector512<float> dmin = Vector512.Create(-yd) * scales; // elements 8..15: -yd * xmin, the dot's dmin

            // Each lane: a row's eight 6-bit scales in bytes 0..7, its mins in 8..15.
            Vector512<uint> sm0 = KQuantScales.Unpack(h0);
            Vector512<uint> sm1 = TRowPairs.Count > 2 ? KQuantScales.Unpack(h1) : sm0;
            Vector512<short> subBlockSums = Vector512.Create(Vector256.Load(m)); // the token's eight, in every lane
            n0 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32(dmin, Vector512.Create(8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11)),
                MinsTerm(sm0, subBlockSums), n0);
            if (TRowPairs.Count > 2)
                n1 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32(dmin, Vector512.Create(12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15)),
                    MinsTerm(sm1, subBlockSums), n1);

            // Row pair k's scale bytes: its first row's lane in the low 256 bits, its second row's in the high.
            Vector512<byte> sp0 = Avx512F.Shuffle4x128(sm0, sm0, 0x50).AsByte();
            Vector512<byte> sp1 = Avx512F.Shuffle4x128(sm0, sm0, 0xFA).AsByte();
            Vector512<byte> sp2 = Avx512F.Shuffle4x128(sm1, sm1, 0x50).AsByte();
            Vector512<byte> sp3 = Avx512F.Shuffle4x128(sm1, sm1, 0xFA).AsByte();
            Vector512<int> i0 = default, i1 = default, i2 = default, i3 = default;
            SubBlockPairs<TRowPairs>(0, q, w0, w1, w2, w3, w4, w5, w6, w7, sp0, sp1, sp2, sp3, ref i0, ref i1, ref i2, ref i3, ref next);
            SubBlockPairs<TRowPairs>(1, q, w0, w1, w2, w3, w4, w5, w6, w7, sp0, sp1, sp2, sp3, ref i0, ref i1, ref i2, ref i3, ref next);
            SubBlockPairs<TRowPairs>(2, q, w0, w1, w2, w3, w4, w5, w6, w7, sp0, sp1, sp2, sp3, ref i0, ref i1, ref i2, ref i3, ref next);
            SubBlockPairs<TRowPairs>(3, q, w0, w1, w2, w3, w4, w5, w6, w7, sp0, sp1, sp2, sp3, ref i0, ref i1, ref i2, ref i3, ref next);

            c0 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32(d, PairLanes(0)), Avx512F.ConvertToVector512Single(i0), c0);
            if (TRowPairs.Count > 1)
                c1 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32(d, PairLanes(2)), Avx512F.ConvertToVector512Single(i1), c1);
            if (TRowPairs.Count > 2)
                c2 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32(d, PairLanes(4)), Avx512F.ConvertToVector512Single(i2), c2);
            if (TRowPairs.Count > 3)
                c3 = Vector512.FusedMultiplyAdd(Avx512F.PermuteVar16x32(d, PairLanes(6)), Avx512F.ConvertToVector512Single(i3), c3);

            w0 += Q4KBytes; w1 += Q4KBytes; w2 += Q4KBytes; w3 += Q4KBytes;
            w4 += Q4KBytes; w5 += Q4KBytes; w6 += Q4KBytes; w7 += Q4KBytes;
            q += Q8KActivationPanel.PairBlockBytes;
            s += 2;
            m += 16;
        }
        // Only real rows are written: results has room for exactly the group.
        results[0] = KQuantSimd.FinishWithMins(c0.GetLower(), n0.GetLower().GetLower());
        if (rows > 1) results[1] = KQuantSimd.FinishWithMins(c0.GetUpper(), n0.GetLower().GetUpper());
        if (TRowPairs.Count > 1)
        {
            results[2] = KQuantSimd.FinishWithMins(c1.GetLower(), n0.GetUpper().GetLower());
            if (rows > 3) results[3] = KQuantSimd.FinishWithMins(c1.GetUpper(), n0.GetUpper().GetUpper());
        }
        if (TRowPairs.Count > 2)
        {
            results[4] = KQuantSimd.FinishWithMins(c2.GetLower(), n1.GetLower().GetLower());
            if (rows > 5) results[5] = KQuantSimd.FinishWithMins(c2.GetUpper(), n1.GetLower().GetUpper());
        }
        if (TRowPairs.Count > 3)
        {
            results[6] = KQuantSimd.FinishWithMins(c3.GetLower(), n1.GetUpper().GetLower());
            if (rows > 7) results[7] = KQuantSimd.FinishWithMins(c3.GetUpper(), n1.GetUpper().GetUpper());
        }
    }

    /// <summary>Four rows' super-block headers (d, dmin and the packed scales: the first 16 bytes), a 128-bit lane each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Headers(byte* a, byte* b, byte* c, byte* d) =>
        Vector512.Create(Vector256.Create(Vector128.Load((uint*)a), Vector128.Load((uint*)b)),
            Vector256.Create(Vector128.Load((uint*)c), Vector128.Load((uint*)d)));

    /// <summary>Element indices that spread <c>d</c>'s elements <paramref name="first"/> and first + 1 over a pair register's halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> PairLanes(int first) =>
        Vector512.Create(Vector256.Create(first), Vector256.Create(first + 1));

    /// <summary>
    /// Four rows' mins (bytes 8..15 of each lane of <paramref name="scalesAndMins"/>) times the token's sub-block sums,
    /// adjacent pairs added: per lane the four integers of the dot's <c>vpmaddwd</c>, as floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> MinsTerm(Vector512<uint> scalesAndMins, Vector512<short> subBlockSums)
    {
        // pshufb index 0x80 | k zeroes a byte: each mins byte becomes a 16-bit element.
        Vector512<byte> widenMins = Vector512.Create(Vector128.Create(
            (ushort)0x8008, 0x8009, 0x800A, 0x800B, 0x800C, 0x800D, 0x800E, 0x800F)).AsByte();
        Vector512<short> mins = Avx512BW.Shuffle(scalesAndMins.AsByte(), widenMins).AsInt16();
        return Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(mins, subBlockSums));
    }

    /// <summary>Sub-blocks 2j and 2j + 1 (64 columns) of every row pair against the token; the next group's share fetched.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SubBlockPairs<TRowPairs>(int j, sbyte* q, byte* w0, byte* w1, byte* w2, byte* w3, byte* w4, byte* w5,
        byte* w6, byte* w7, Vector512<byte> sp0, Vector512<byte> sp1, Vector512<byte> sp2, Vector512<byte> sp3,
        ref Vector512<int> i0, ref Vector512<int> i1, ref Vector512<int> i2, ref Vector512<int> i3, ref SpreadPrefetch next)
        where TRowPairs : ITileCount
    {
        next.Step();
        // The panel's chunks 2j and 2j + 1: the token's quants 64j..64j+31 and 64j+32..64j+63, each in both halves.
        Vector512<sbyte> yl = Vector512.Load(q + 128 * j), yh = Vector512.Load(q + 128 * j + 64);
        // pshufb indices that widen scale byte 2j (2j + 1) of each half's row into every 16-bit element.
        Vector512<byte> pickL = Vector512.Create((ushort)(0x8000 | (2 * j))).AsByte();
        Vector512<byte> pickH = Vector512.Create((ushort)(0x8000 | (2 * j + 1))).AsByte();
        i0 += Sums(w0, w1, j, sp0, pickL, pickH, yl, yh);
        if (TRowPairs.Count > 1) i1 += Sums(w2, w3, j, sp1, pickL, pickH, yl, yh);
        if (TRowPairs.Count > 2) i2 += Sums(w4, w5, j, sp2, pickL, pickH, yl, yh);
        if (TRowPairs.Count > 3) i3 += Sums(w6, w7, j, sp3, pickL, pickH, yl, yh);
    }

    /// <summary>
    /// Rows <paramref name="wa"/> (low half) and <paramref name="wb"/> (high half), sub-blocks 2j and 2j + 1: per 32-bit
    /// lane scale · (four nibble · quant products), both sub-blocks added, as the dot's <c>p32l + p32h</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Sums(byte* wa, byte* wb, int j, Vector512<byte> scaleBytes, Vector512<byte> pickL,
        Vector512<byte> pickH, Vector512<sbyte> yl, Vector512<sbyte> yh)
    {
        Vector512<byte> bits = Vector512.Create(Vector256.Load(wa + 16 + 32 * j), Vector256.Load(wb + 16 + 32 * j));
        Vector512<byte> low = bits & Vector512.Create((byte)0x0F);
        Vector512<byte> high = Vector512.ShiftRightLogical(bits.AsUInt16(), 4).AsByte() & Vector512.Create((byte)0x0F);
        Vector512<short> scaleL = Avx512BW.Shuffle(scaleBytes, pickL).AsInt16();
        Vector512<short> scaleH = Avx512BW.Shuffle(scaleBytes, pickH).AsInt16();
        return Avx512BW.MultiplyAddAdjacent(scaleL, Avx512BW.MultiplyAddAdjacent(low, yl))
            + Avx512BW.MultiplyAddAdjacent(scaleH, Avx512BW.MultiplyAddAdjacent(high, yh));
    }
}
