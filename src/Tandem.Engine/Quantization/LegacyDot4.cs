using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Tandem.Engine.Quantization.LegacyQuantMath;

namespace Tandem.Engine.Quantization;

/// <summary>
/// One stored row of a 32-element ("legacy") type dotted with four Q8_0 activation rows: the weight block's
/// quants, their absolute values and F16 scale are decoded once and used for all four.
/// Bit-identical to four calls of the type's <c>DotAvx2</c>: per pair the same <c>dx*dy</c>, the same
/// integer sums (<see cref="MulSumUs8Pairs"/> of |qx| and sign(qy, qx), as <see cref="MulSumI8Pairs"/>),
/// the same FMA into its own accumulator, block by block, and the same final <c>hsum_float_8</c>.
/// </summary>
internal static class LegacyDot4
{
    /// <summary>
    /// ggml's AVX2 <c>ggml_vec_dot_qX_0_q8_0</c> for any type whose blocks decode to signed bytes: one 8-lane
    /// accumulator, <c>acc = fma(dx*dy, sum(qx*qy), acc)</c> per block, then <c>hsum_float_8</c>.
    /// Q4_0, Q5_0 and Q8_0 differ only in <see cref="ILegacyBlockDecoder.Decode"/>.
    /// </summary>
    public static float Avx2Dot<TDecoder>(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int nb)
        where TDecoder : ILegacyBlockDecoder
    {
        ref byte x = ref MemoryMarshal.GetReference(weights);
        ref byte y = ref MemoryMarshal.GetReference(activations);
        Vector256<float> acc = Vector256<float>.Zero;
        int xb = TDecoder.BlockBytes;
        for (int ib = 0; ib < nb; ib++)
        {
            float d = ReadHalf(ref x, 0) * ReadHalf(ref y, 0);
            Vector256<sbyte> qx = TDecoder.Decode(ref x);
            Vector256<sbyte> qy = Vector256.LoadUnsafe(ref Unsafe.Add(ref y, 2)).AsSByte();
            acc = Vector256.FusedMultiplyAdd(Vector256.Create(d), MulSumI8Pairs(qx, qy), acc);
            x = ref Unsafe.Add(ref x, xb);
            y = ref Unsafe.Add(ref y, RowQ8_0.BlockBytes);
        }
        return HorizontalSum(acc);
    }

    /// <summary>The <c>Dot4</c> of a type with Q8_0 activations: checks the rows, then the AVX2 kernel or four portable dots.</summary>
    public static void Dot4<TDecoder>(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> a0, ReadOnlySpan<byte> a1,
        ReadOnlySpan<byte> a2, ReadOnlySpan<byte> a3, int n, Span<float> results)
        where TDecoder : ILegacyBlockDecoder
    {
        int nb = CheckRows(n, weights, TDecoder.BlockBytes, a0, a1, a2, a3, results);
        if (UseAvx2)
        {
            Avx2Dot4<TDecoder>(weights, a0, a1, a2, a3, nb, results);
            return;
        }
        results[0] = TDecoder.DotScalar(weights, a0, nb);
        results[1] = TDecoder.DotScalar(weights, a1, nb);
        results[2] = TDecoder.DotScalar(weights, a2, nb);
        results[3] = TDecoder.DotScalar(weights, a3, nb);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx2Dot4<TDecoder>(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> a0, ReadOnlySpan<byte> a1,
        ReadOnlySpan<byte> a2, ReadOnlySpan<byte> a3, int nb, Span<float> results)
        where TDecoder : ILegacyBlockDecoder
    {
        ref byte x = ref MemoryMarshal.GetReference(weights);
        ref byte y0 = ref MemoryMarshal.GetReference(a0);
        ref byte y1 = ref MemoryMarshal.GetReference(a1);
        ref byte y2 = ref MemoryMarshal.GetReference(a2);
        ref byte y3 = ref MemoryMarshal.GetReference(a3);
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        int xb = TDecoder.BlockBytes;
        for (int ib = 0; ib < nb; ib++)
        {
            // The four activation scales widened together, then dx * dy as four float products:
            // the same values as the single kernel's ReadHalf(x) * ReadHalf(y).
            Vector128<float> d = Vector128.Create(ReadHalf(ref x, 0)) * HalfToSingle4(Vector128.Create(
                (uint)Unsafe.ReadUnaligned<ushort>(ref y0), Unsafe.ReadUnaligned<ushort>(ref y1),
                Unsafe.ReadUnaligned<ushort>(ref y2), Unsafe.ReadUnaligned<ushort>(ref y3)));
            Vector256<sbyte> qx = TDecoder.Decode(ref x);
            Vector256<byte> ax = Avx2.Sign(qx, qx).AsByte();

            acc0 = Vector256.FusedMultiplyAdd(Vector256.Create(d.GetElement(0)), MulSumUs8Pairs(ax, Avx2.Sign(Vector256.LoadUnsafe(ref Unsafe.Add(ref y0, 2)).AsSByte(), qx)), acc0);
            acc1 = Vector256.FusedMultiplyAdd(Vector256.Create(d.GetElement(1)), MulSumUs8Pairs(ax, Avx2.Sign(Vector256.LoadUnsafe(ref Unsafe.Add(ref y1, 2)).AsSByte(), qx)), acc1);
            acc2 = Vector256.FusedMultiplyAdd(Vector256.Create(d.GetElement(2)), MulSumUs8Pairs(ax, Avx2.Sign(Vector256.LoadUnsafe(ref Unsafe.Add(ref y2, 2)).AsSByte(), qx)), acc2);
            acc3 = Vector256.FusedMultiplyAdd(Vector256.Create(d.GetElement(3)), MulSumUs8Pairs(ax, Avx2.Sign(Vector256.LoadUnsafe(ref Unsafe.Add(ref y3, 2)).AsSByte(), qx)), acc3);

            x = ref Unsafe.Add(ref x, xb);
            y0 = ref Unsafe.Add(ref y0, RowQ8_0.BlockBytes);
            y1 = ref Unsafe.Add(ref y1, RowQ8_0.BlockBytes);
            y2 = ref Unsafe.Add(ref y2, RowQ8_0.BlockBytes);
            y3 = ref Unsafe.Add(ref y3, RowQ8_0.BlockBytes);
        }
        results[0] = HorizontalSum(acc0);
        results[1] = HorizontalSum(acc1);
        results[2] = HorizontalSum(acc2);
        results[3] = HorizontalSum(acc3);
    }

    /// <summary>Four F16 bit patterns (in the low halves of the lanes) to F32, lane for lane what <see cref="FloatConversions.HalfToSingle"/> gives.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> HalfToSingle4(Vector128<uint> h)
    {
        Vector128<uint> magnitude = (h & Vector128.Create(0x7FFFu)) << 13;
        Vector128<float> f = magnitude.AsSingle() * Vector128.Create(FloatConversions.TwoPow112);
        // Exponent 31 (inf/NaN) keeps its bits, as the scalar conversion does.
        f = Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(magnitude, Vector128.Create(0x0F800000u)).AsSingle(),
            (magnitude | Vector128.Create(0x7F800000u)).AsSingle(), f);
        return (f.AsUInt32() | ((h & Vector128.Create(0x8000u)) << 16)).AsSingle();
    }

    /// <summary>Checks the row lengths as the single-pair <c>Dot</c> does; returns the block count.</summary>
    public static int CheckRows(int n, ReadOnlySpan<byte> weights, int weightBlockBytes, ReadOnlySpan<byte> a0,
        ReadOnlySpan<byte> a1, ReadOnlySpan<byte> a2, ReadOnlySpan<byte> a3, Span<float> results)
    {
        int nb = BlockCount(n, weights.Length, weightBlockBytes, "weights");
        int shortest = Math.Min(Math.Min(a0.Length, a1.Length), Math.Min(a2.Length, a3.Length));
        BlockCount(n, shortest, RowQ8_0.BlockBytes, "activations");
        if (results.Length < 4) throw new ArgumentException("results must hold four values", nameof(results));
        return nb;
    }
}
