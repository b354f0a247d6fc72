using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tandem.Engine.Kernels;

/// <summary>
/// .NET's horizontal sums (<c>Vector512.Sum</c>, <c>Vector256.Sum</c>, <c>Vector128.Sum</c> of floats) of many
/// vectors at once, for kernels that finish one dot per (query, cell) in <c>TensorPrimitives.Dot</c>'s order
/// (<see cref="TensorPrimitivesOrder.ScaledDots"/>). One vector's Sum is a tree that leaves most of the SIMD unit
/// idle at each level and ends in scalar extracts; here each level pairs the partial sums of two vectors with
/// shuffles so that one vector addition does that level for both: 16 sums of 512-bit vectors cost 30 shuffles and
/// 15 additions.
/// <para>
/// .NET sums a vector as halves (<c>Sum(v) = Sum(lower) + Sum(upper)</c>, down to two lanes: lane 0 + lane 1), so the
/// tree adds neighbouring lanes first: (v0 + v1) + (v2 + v3) in each 128-bit block, then neighbouring blocks. The
/// networks below form every output lane from one input vector by exactly those additions of exactly those partial
/// sums; only which register operand holds which partial sum differs, and IEEE addition is commutative (NaN payloads
/// aside: with NaNs in both operands x86 keeps the first one's). The tests check the bits against Sum itself.
/// </para>
/// The inputs are read in memory order <c>s[0..n)</c>; output lane m holds the sum of <c>s[m]</c>.
/// </summary>
internal static unsafe class TransposedVectorSum
{
    // vshufps / vshuff32x4 selectors: elements (or 128-bit blocks) 0 and 2 of each operand, or 1 and 3.
    private const byte Evens = 0b10_00_10_00, Odds = 0b11_01_11_01;

    /// <summary>Per 128-bit block: <c>[a0 + a1, a2 + a3, b0 + b1, b2 + b3]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> NeighbourLanes(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle(a, b, Evens) + Avx512F.Shuffle(a, b, Odds);

    /// <summary>128-bit blocks B: <c>[a.B0 + a.B1, a.B2 + a.B3, b.B0 + b.B1, b.B2 + b.B3]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> NeighbourBlocks(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle4x128(a, b, Evens) + Avx512F.Shuffle4x128(a, b, Odds);

    /// <summary>
    /// Lane m = <c>Vector512.Sum(s[m])</c>, m &lt; 16. Two levels of neighbouring lanes leave, in block j of the
    /// vector made from s[4k..4k+3], the four 4-lane sums of their block j; two levels of neighbouring blocks then add
    /// blocks 0 + 1 and 2 + 3, and those two halves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Sum16(Vector512<float>* s)
    {
        Vector512<float> q0 = NeighbourLanes(NeighbourLanes(s[0], s[1]), NeighbourLanes(s[2], s[3]));
        Vector512<float> q1 = NeighbourLanes(NeighbourLanes(s[4], s[5]), NeighbourLanes(s[6], s[7]));
        Vector512<float> q2 = NeighbourLanes(NeighbourLanes(s[8], s[9]), NeighbourLanes(s[10], s[11]));
        Vector512<float> q3 = NeighbourLanes(NeighbourLanes(s[12], s[13]), NeighbourLanes(s[14], s[15]));
        return NeighbourBlocks(NeighbourBlocks(q0, q1), NeighbourBlocks(q2, q3));
    }

    /// <summary>Per 128-bit lane: <c>[a0 + a1, a2 + a3, b0 + b1, b2 + b3]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> NeighbourLanes(Vector256<float> a, Vector256<float> b) =>
        Avx.Shuffle(a, b, Evens) + Avx.Shuffle(a, b, Odds);

    /// <summary>Lane m = <c>Vector256.Sum(s[m])</c>, m &lt; 8: the 4-lane sums of both halves as in <see cref="Sum16"/>, then low + high.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sum8(Vector256<float>* s)
    {
        Vector256<float> q0 = NeighbourLanes(NeighbourLanes(s[0], s[1]), NeighbourLanes(s[2], s[3]));
        Vector256<float> q1 = NeighbourLanes(NeighbourLanes(s[4], s[5]), NeighbourLanes(s[6], s[7]));
        return Avx.Permute2x128(q0, q1, 0x20) + Avx.Permute2x128(q0, q1, 0x31);
    }

    /// <summary>Lane m = <c>Vector128.Sum(s[m])</c>, m &lt; 4 (SSE).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector128<float>* s)
    {
        Vector128<float> p01 = Sse.Shuffle(s[0], s[1], Evens) + Sse.Shuffle(s[0], s[1], Odds);
        Vector128<float> p23 = Sse.Shuffle(s[2], s[3], Evens) + Sse.Shuffle(s[2], s[3], Odds);
        return Sse.Shuffle(p01, p23, Evens) + Sse.Shuffle(p01, p23, Odds);
    }
}
