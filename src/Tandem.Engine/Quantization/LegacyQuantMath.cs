using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Building blocks shared by the 32-element ("legacy") block types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q8_1:
/// the activation quantiser and the AVX2 pieces of ggml's x86 dot products
/// (ggml/src/ggml-cpu/arch/x86/quants.c), re-expressed with .NET intrinsics.
/// </summary>
/// <remarks>
/// The <c>DotAvx2</c> kernels do ggml's AVX2 operations in ggml's order (one 8-lane F32 accumulator,
/// <c>fma(dx*dy, float(int sums), acc)</c> per block, <c>hsum_float_8</c> at the end; the block scale
/// products and Q4_1/Q5_1's <c>m*s</c> are exact in F32), so their results are bit-identical to
/// <c>ggml_vec_dot_*</c> of ggml's AVX2 and AVX-512 CPU builds; the tests check this against the ggml
/// library shipped with LLamaSharp. (llama.cpp may instead repack Q4_0 weights into interleaved blocks
/// for its gemv kernels, which sum in another order.) Processing two blocks per iteration with two
/// accumulators would be a little faster but would lose that identity.
/// </remarks>
internal static class LegacyQuantMath
{
    public const int BlockSize = 32;

    /// <summary>True when the AVX2 + FMA dot products can run (otherwise the scalar ones do).</summary>
    public static bool UseAvx2 => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>Checks that a row of <paramref name="n"/> elements fits in the given spans; n must be a whole number of blocks.</summary>
    public static int BlockCount(int n, int available, int blockBytes, string what)
    {
        if (n < 0 || n % BlockSize != 0)
            throw new ArgumentException($"row length {n} is not a whole number of {BlockSize}-element blocks", nameof(n));
        int nb = n / BlockSize;
        if ((long)nb * blockBytes > available)
            throw new ArgumentException($"the {what} span holds {available} bytes, a row of {n} elements needs {(long)nb * blockBytes}");
        return nb;
    }

    /// <summary>Block count for a float row being quantised into <paramref name="dst"/>.</summary>
    public static int BlockCount(ReadOnlySpan<float> src, int dstBytes, int blockBytes) =>
        BlockCount(src.Length, dstBytes, blockBytes, "destination");

    /// <summary>The F16 at <paramref name="offset"/> of a block, as F32.</summary>
    public static float HalfAt(ReadOnlySpan<byte> block, int offset) =>
        FloatConversions.HalfToSingle(MemoryMarshal.Read<ushort>(block[offset..]));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ReadHalf(ref byte block, int offset) =>
        FloatConversions.HalfToSingle(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref block, offset)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteHalf(ref byte block, int offset, float value) =>
        Unsafe.WriteUnaligned(ref Unsafe.Add(ref block, offset), FloatConversions.SingleToHalf(value));

    /// <summary>
    /// Quantises one block of 32 activations to int8 exactly as ggml-cpu's x86 AVX2 <c>quantize_row_q8_0</c> /
    /// <c>quantize_row_q8_1</c> do (not as the <c>_ref</c> versions):
    /// amax = max |x| (a plain max, so NaN inputs are not handled like ggml's maxps would), <c>d = amax / 127f</c>,
    /// <c>id = amax != 0 ? 127f / amax : 0</c> (a true division, not 1/d), <c>q = round(x * id)</c> with the
    /// current SSE rounding mode, i.e. round half to EVEN (<c>_mm256_round_ps(_MM_ROUND_NEAREST)</c>), where the
    /// reference uses <c>roundf</c> (half away from zero). Writes the 32 quants at <paramref name="qs"/> and
    /// returns the F32 <c>d</c> (the caller stores it as F16) and the sum of the quants (for Q8_1's <c>s</c>).
    /// </summary>
    public static float QuantizeQ8Block(ReadOnlySpan<float> x, ref byte qs, out int sum)
    {
        ref float src = ref MemoryMarshal.GetReference(x);
        if (Vector256.IsHardwareAccelerated && x.Length >= BlockSize)
        {
            Vector256<float> v0 = Vector256.LoadUnsafe(ref src, 0);
            Vector256<float> v1 = Vector256.LoadUnsafe(ref src, 8);
            Vector256<float> v2 = Vector256.LoadUnsafe(ref src, 16);
            Vector256<float> v3 = Vector256.LoadUnsafe(ref src, 24);
            Vector256<float> maxAbs = Vector256.MaxNative(
                Vector256.MaxNative(Vector256.Abs(v0), Vector256.Abs(v1)),
                Vector256.MaxNative(Vector256.Abs(v2), Vector256.Abs(v3)));
            Vector128<float> m4 = Vector128.MaxNative(maxAbs.GetLower(), maxAbs.GetUpper());
            float amax = MathF.Max(MathF.Max(m4[0], m4[1]), MathF.Max(m4[2], m4[3]));

            float d = amax / 127f;
            var mul = Vector256.Create(amax != 0f ? 127f / amax : 0f);
            // Vector256.Round rounds half to even, as _mm256_round_ps(_MM_ROUND_NEAREST) does.
            Vector256<int> i0 = Vector256.ConvertToInt32(Vector256.Round(v0 * mul));
            Vector256<int> i1 = Vector256.ConvertToInt32(Vector256.Round(v1 * mul));
            Vector256<int> i2 = Vector256.ConvertToInt32(Vector256.Round(v2 * mul));
            Vector256<int> i3 = Vector256.ConvertToInt32(Vector256.Round(v3 * mul));
            sum = Vector256.Sum((i0 + i1) + (i2 + i3));
            // |x * id| <= 127 (+ rounding), so narrowing truncation equals ggml's saturating packs.
            Vector256<sbyte> q = Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3));
            q.AsByte().StoreUnsafe(ref qs);
            return d;
        }
        if (Vector128.IsHardwareAccelerated && x.Length >= BlockSize)
            return QuantizeQ8Block128(ref src, ref qs, out sum);
        return QuantizeQ8BlockScalar(x, ref qs, out sum);
    }

    /// <summary>
    /// <see cref="QuantizeQ8Block"/> in 128-bit vectors (Arm64, x64 without AVX2): the same maximum (order-free), the
    /// same products and round-half-to-even, so the same quants and d; the integer sum is order-free too.
    /// </summary>
    private static float QuantizeQ8Block128(ref float src, ref byte qs, out int sum)
    {
        Vector128<float> v0 = Vector128.LoadUnsafe(ref src, 0), v1 = Vector128.LoadUnsafe(ref src, 4);
        Vector128<float> v2 = Vector128.LoadUnsafe(ref src, 8), v3 = Vector128.LoadUnsafe(ref src, 12);
        Vector128<float> v4 = Vector128.LoadUnsafe(ref src, 16), v5 = Vector128.LoadUnsafe(ref src, 20);
        Vector128<float> v6 = Vector128.LoadUnsafe(ref src, 24), v7 = Vector128.LoadUnsafe(ref src, 28);
        Vector128<float> maxAbs = Vector128.MaxNative(
            Vector128.MaxNative(Vector128.MaxNative(Vector128.Abs(v0), Vector128.Abs(v1)), Vector128.MaxNative(Vector128.Abs(v2), Vector128.Abs(v3))),
            Vector128.MaxNative(Vector128.MaxNative(Vector128.Abs(v4), Vector128.Abs(v5)), Vector128.MaxNative(Vector128.Abs(v6), Vector128.Abs(v7))));
        float amax = MathF.Max(MathF.Max(maxAbs[0], maxAbs[1]), MathF.Max(maxAbs[2], maxAbs[3]));

        float d = amax / 127f;
        var mul = Vector128.Create(amax != 0f ? 127f / amax : 0f);
        Vector128<int> i0 = Vector128.ConvertToInt32(Vector128.Round(v0 * mul)), i1 = Vector128.ConvertToInt32(Vector128.Round(v1 * mul));
        Vector128<int> i2 = Vector128.ConvertToInt32(Vector128.Round(v2 * mul)), i3 = Vector128.ConvertToInt32(Vector128.Round(v3 * mul));
        Vector128<int> i4 = Vector128.ConvertToInt32(Vector128.Round(v4 * mul)), i5 = Vector128.ConvertToInt32(Vector128.Round(v5 * mul));
        Vector128<int> i6 = Vector128.ConvertToInt32(Vector128.Round(v6 * mul)), i7 = Vector128.ConvertToInt32(Vector128.Round(v7 * mul));
        sum = Vector128.Sum(((i0 + i1) + (i2 + i3)) + ((i4 + i5) + (i6 + i7)));
        // |x * id| <= 127 (+ rounding), so narrowing truncation equals the scalar clamp-free conversion.
        Vector128.Narrow(Vector128.Narrow(i0, i1), Vector128.Narrow(i2, i3)).AsByte().StoreUnsafe(ref qs);
        Vector128.Narrow(Vector128.Narrow(i4, i5), Vector128.Narrow(i6, i7)).AsByte().StoreUnsafe(ref qs, 16);
        return d;
    }

    /// <summary>Scalar form of <see cref="QuantizeQ8Block"/> with the same results.</summary>
    public static float QuantizeQ8BlockScalar(ReadOnlySpan<float> x, ref byte qs, out int sum)
    {
        float amax = 0f;
        for (int j = 0; j < BlockSize; j++)
            amax = MathF.Max(amax, MathF.Abs(x[j]));
        float d = amax / 127f;
        float id = amax != 0f ? 127f / amax : 0f;
        sum = 0;
        for (int j = 0; j < BlockSize; j++)
        {
            int q = (int)MathF.Round(x[j] * id, MidpointRounding.ToEven);
            Unsafe.Add(ref qs, j) = (byte)(sbyte)q;
            sum += q;
        }
        return d;
    }

    // ---- AVX2 pieces of ggml's x86 dot products -------------------------------------------------

    /// <summary>16 bytes of nibbles to 32 bytes in [0, 15]: low nibbles (elements 0..15) then high nibbles (16..31), as <c>bytes_from_nibbles_32</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> BytesFromNibbles(ref byte qs)
    {
        Vector128<byte> packed = Vector128.LoadUnsafe(ref qs);
        Vector128<byte> mask = Vector128.Create((byte)0x0F);
        Vector128<byte> high = Sse2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte();
        return Vector256.Create(packed & mask, high & mask);
    }

    /// <summary>Spreads the 32 bits of <paramref name="bits"/> to 32 bytes (0xFF where the bit is set), as <c>bytes_from_bits_32</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> BytesFromBits(uint bits)
    {
        Vector256<byte> spread = Avx2.Shuffle(Vector256.Create(bits).AsByte(), Vector256.Create(
            0x0000000000000000ul, 0x0101010101010101ul, 0x0202020202020202ul, 0x0303030303030303ul).AsByte());
        spread |= Vector256.Create(0x7FBFDFEFF7FBFDFEul).AsByte();
        return Vector256.Equals(spread, Vector256<byte>.AllBitsSet);
    }

    /// <summary>
    /// Sums of 4 adjacent unsigned x signed byte products as 8 floats, as <c>mul_sum_us8_pairs_float</c>
    /// (VNNI <c>vpdpbusd</c> where present, else <c>vpmaddubsw</c> + <c>vpmaddwd</c>; same integers unless
    /// a 16-bit pair saturates, which ggml's data never reaches except with -128 quants).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MulSumUs8Pairs(Vector256<byte> ax, Vector256<sbyte> sy)
    {
        if (AvxVnni.IsSupported)
            return Avx.ConvertToVector256Single(AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, ax, sy));
        Vector256<short> dot = Avx2.MultiplyAddAdjacent(ax, sy);
        return Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(dot, Vector256.Create((short)1)));
    }

    /// <summary>Sums of 4 adjacent signed byte products as 8 floats, as <c>mul_sum_i8_pairs_float</c> (sign trick so that maddubs can be used).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MulSumI8Pairs(Vector256<sbyte> x, Vector256<sbyte> y) =>
        MulSumUs8Pairs(Avx2.Sign(x, x).AsByte(), Avx2.Sign(y, x));

    /// <summary>Horizontal sum of 8 floats in the order of ggml's <c>hsum_float_8</c> ((lo + hi), then lanes 0+2, 1+3, then both).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalSum(Vector256<float> x)
    {
        Vector128<float> r = x.GetLower() + x.GetUpper();
        return (r.GetElement(0) + r.GetElement(2)) + (r.GetElement(1) + r.GetElement(3));
    }
}
