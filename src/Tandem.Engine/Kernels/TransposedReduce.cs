using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tandem.Engine.Kernels;

/// <summary>
/// ggml's horizontal sums (<see cref="GgmlSimd.ReduceAdd(Vector512{float})"/>, <see cref="GgmlSimd.ReduceAddHadd"/>)
/// of many vectors at once, for kernels that finish many (row, token) results per call. One vector's reduction is a
/// tree (lanes i and i + 8, then i and i + 4, ...) that leaves three quarters of the SIMD unit idle at every level and
/// ends in scalar extracts; here each level pairs two vectors' halves with a shuffle so that one vector addition does
/// that level for both: 16 sums cost 30 shuffles and 15 additions instead of about 160 instructions.
/// <para>
/// Bit-identical: every output lane is formed from exactly one input vector, by the same additions of the same
/// partial sums in the same tree as the one-vector reduction; only which register operand holds which partial sum
/// differs, and IEEE addition is commutative. (With a NaN in both operands x86 keeps the first operand's payload, so
/// NaN payloads may differ; the matmul kernels redo any pair holding an inf/NaN as a plain sum and never reach here
/// with one, and finite F16 products cannot overflow.)
/// </para>
/// The inputs are read in memory order <c>s[0..n)</c>; output lane m holds the reduction of <c>s[m]</c>.
/// </summary>
internal static unsafe class TransposedReduce
{
    // vshuff32x4 / vshufps selectors (two from the first operand, two from the second).
    private const byte Take01 = 0b01_00_01_00, Take23 = 0b11_10_11_10, Take02 = 0b10_00_10_00, Take13 = 0b11_01_11_01;

    /// <summary><c>[a.lo256 + a.hi256, b.lo256 + b.hi256]</c>: the first level of <see cref="GgmlSimd.ReduceAdd(Vector512{float})"/> for a and b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Halves(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle4x128(a, b, Take01) + Avx512F.Shuffle4x128(a, b, Take23);

    /// <summary>
    /// From u = [ta, tb] and v = [tc, td] (8-lane partial sums): <c>[ta.lo + ta.hi, tb.lo + tb.hi, tc..., td...]</c>
    /// (128-bit halves), the second level for four vectors.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Quarters(Vector512<float> u, Vector512<float> v) =>
        Avx512F.Shuffle4x128(u, v, Take02) + Avx512F.Shuffle4x128(u, v, Take13);

    /// <summary>Per 128-bit block, from v's and w's 4-lane sums q: <c>[v.q0 + v.q2, v.q1 + v.q3, w.q0 + w.q2, w.q1 + w.q3]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Pairs(Vector512<float> v, Vector512<float> w) =>
        Avx512F.Shuffle(v, w, Take01) + Avx512F.Shuffle(v, w, Take23);

    /// <summary>Per 128-bit block: <c>[a0 + a1, a2 + a3, b0 + b1, b2 + b3]</c>, i.e. (q0 + q2) + (q1 + q3) of each sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Finals(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle(a, b, Take02) + Avx512F.Shuffle(a, b, Take13);

    /// <summary>
    /// Lane m = <see cref="GgmlSimd.ReduceAdd(Vector512{float})"/> of <c>s[m]</c>, m &lt; 16. The network leaves the
    /// reduction of its input 4j + c in lane 4c + j (a 4 × 4 transpose), so it reads its inputs transposed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ReduceAdd16(Vector512<float>* s)
    {
        Vector512<float> v0 = Quarters(Halves(s[0], s[4]), Halves(s[8], s[12]));
        Vector512<float> v1 = Quarters(Halves(s[1], s[5]), Halves(s[9], s[13]));
        Vector512<float> v2 = Quarters(Halves(s[2], s[6]), Halves(s[10], s[14]));
        Vector512<float> v3 = Quarters(Halves(s[3], s[7]), Halves(s[11], s[15]));
        return Finals(Pairs(v0, v1), Pairs(v2, v3));
    }

    /// <summary>
    /// Lanes m &lt; 8 = <see cref="GgmlSimd.ReduceAdd(Vector512{float})"/> of <c>s[m]</c>; lanes 8..15 unspecified.
    /// Half of <see cref="ReduceAdd16"/>'s network (the reduction of s[4j + c] lands in lane 4c + j) and a permute.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ReduceAdd8(Vector512<float>* s)
    {
        Vector512<float> v0 = Quarters(Halves(s[0], s[1]), Halves(s[2], s[3]));
        Vector512<float> v1 = Quarters(Halves(s[4], s[5]), Halves(s[6], s[7]));
        Vector512<float> w = Pairs(v0, v1);
        return Avx512F.PermuteVar16x32(Finals(w, w), Vector512.Create(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    }

    /// <summary>
    /// Lane m = <see cref="GgmlSimd.ReduceAddHadd"/> of <c>s[m]</c>, m &lt; 8: low + high 128 bits of two vectors per
    /// addition, then two <c>hadd</c>s (ggml's own last steps). The network leaves the reduction of its input 2j + l in
    /// lane 4l + j, so it reads its inputs in that order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ReduceAddHadd8(Vector256<float>* s)
    {
        Vector256<float> w0 = Avx.HorizontalAdd(Halves(s[0], s[4]), Halves(s[1], s[5]));
        Vector256<float> w1 = Avx.HorizontalAdd(Halves(s[2], s[6]), Halves(s[3], s[7]));
        return Avx.HorizontalAdd(w0, w1);
    }

    /// <summary><c>[a.lo128 + a.hi128, b.lo128 + b.hi128]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Halves(Vector256<float> a, Vector256<float> b) =>
        Avx.Permute2x128(a, b, 0x20) + Avx.Permute2x128(a, b, 0x31);
}
