using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Where a pass of the F16 row-tile kernels (<see cref="F16RowTileAvx512"/>, <see cref="F16RowTileAvx2"/>) leaves one
/// of ggml's four accumulators a0..a3 for a (row, token) slot. <see cref="GgmlFloatDot.VecDotF16"/> combines them as
/// <c>(a0 + a2) + (a1 + a3)</c>; the kernels run the passes in the order a0, a2, a1, a3 and fold each chain in as it
/// ends, so the sum is complete when the last pass ends, without a separate loop over stored accumulators.
/// </summary>
internal unsafe interface IF16AccumulatorSink
{
    static abstract void Put(Vector512<float>* sums, Vector512<float>* odd, int slot, Vector512<float> chain);
    static abstract void Put(Vector256<float>* sums, Vector256<float>* odd, int slot, Vector256<float> chain);
}

/// <summary>a0: stored in the sums.</summary>
internal readonly unsafe struct F16Accumulator0 : IF16AccumulatorSink
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Put(Vector512<float>* sums, Vector512<float>* odd, int slot, Vector512<float> chain) => sums[slot] = chain;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Put(Vector256<float>* sums, Vector256<float>* odd, int slot, Vector256<float> chain) => sums[slot] = chain;
}

/// <summary>a2: the sums become a0 + a2.</summary>
internal readonly unsafe struct F16Accumulator2 : IF16AccumulatorSink
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Put(Vector512<float>* sums, Vector512<float>* odd, int slot, Vector512<float> chain) => sums[slot] += chain;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Put(Vector256<float>* sums, Vector256<float>* odd, int slot, Vector256<float> chain) => sums[slot] += chain;
}

/// <summary>a1: stored beside the sums.</summary>
internal readonly unsafe struct F16Accumulator1 : IF16AccumulatorSink
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Put(Vector512<float>* sums, Vector512<float>* odd, int slot, Vector512<float> chain) => odd[slot] = chain;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Put(Vector256<float>* sums, Vector256<float>* odd, int slot, Vector256<float> chain) => odd[slot] = chain;
}

/// <summary>a3: the sums become (a0 + a2) + (a1 + a3).</summary>
internal readonly unsafe struct F16Accumulator3 : IF16AccumulatorSink
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Put(Vector512<float>* sums, Vector512<float>* odd, int slot, Vector512<float> chain) => sums[slot] += odd[slot] + chain;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Put(Vector256<float>* sums, Vector256<float>* odd, int slot, Vector256<float> chain) => sums[slot] += odd[slot] + chain;
}

/// <summary>
/// The last pass over rows widened the unpacking way (<see cref="F16WidenedRows.WidenUnpacked"/>) against an
/// <see cref="F16UnpackedPanel"/>: passes 0 and 32 (sinks 0 and 2) hold the low unpack's lanes of ggml's a0/a1 and a2/a3,
/// so the sums are u = low0 + low32, lane by lane a0 + a2 or a1 + a3; passes 16 and 48 (sinks 1 and this) the high
/// unpack's, v = high16 + high48. Putting u and v's lanes back in ggml's order gives a0 + a2 and a1 + a3, added as
/// <see cref="GgmlFloatDot.VecDotF16"/> does (<see cref="F16PairTileAvx512.Finish{TTokens}"/>'s fold).
/// </summary>
internal readonly unsafe struct F16UnpackedAccumulator3 : IF16AccumulatorSink
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Put(Vector512<float>* sums, Vector512<float>* odd, int slot, Vector512<float> chain)
    {
        // Element e of a 32-element chunk sits in the low register (e % 8 < 4) or the high one, at lane 4 (e / 8) + e % 4.
        Vector512<float> u = sums[slot], v = odd[slot] + chain;
        sums[slot] = Avx512F.PermuteVar16x32x2(u, Vector512.Create(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23), v)
            + Avx512F.PermuteVar16x32x2(u, Vector512.Create(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31), v);
    }

    public static void Put(Vector256<float>* sums, Vector256<float>* odd, int slot, Vector256<float> chain) =>
        throw new NotSupportedException("the unpacked widening is AVX-512 only (ggml width 16)");
}
