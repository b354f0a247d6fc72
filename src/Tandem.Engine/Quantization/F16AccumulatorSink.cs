using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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
