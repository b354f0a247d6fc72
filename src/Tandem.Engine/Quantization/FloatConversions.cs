using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Conversions between F32 and the 16-bit float formats that GGUF stores (IEEE binary16 "F16" and
/// bfloat16 "BF16"), written to give exactly ggml's results, plus the vector widenings the dot products use.
/// </summary>
internal static class FloatConversions
{
    /// <summary>2^112: scales an F16 exponent/mantissa placed in F32 position to its true value (also for subnormals).</summary>
    internal const float TwoPow112 = 5.192296858534828e33f;

    /// <summary>
    /// F16 bits to F32, exact (every F16 value is an F32 value). Branch-light because the legacy dot
    /// products call it twice per 32-element block; .NET's <c>(float)Half</c> is a slower software path.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HalfToSingle(ushort h)
    {
        uint magnitude = (uint)(h & 0x7FFF) << 13;
        // Multiplying by 2^112 re-biases the exponent (15 -> 127) and normalises F16 subnormals exactly.
        float f = BitConverter.UInt32BitsToSingle(magnitude) * TwoPow112;
        if (magnitude >= 0x0F800000) // exponent 31: inf or NaN, which the multiply would turn into a finite number
            f = BitConverter.UInt32BitsToSingle(magnitude | 0x7F800000);
        return BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(f) | ((uint)(h & 0x8000) << 16));
    }

    /// <summary>
    /// <see cref="HalfToSingle(ushort)"/> lane for lane on F16 bit patterns in the low 16 bits of each lane (the high
    /// bits are ignored), infinities and NaNs included: for the per-block scales of several rows at once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> HalfToSingle(Vector512<uint> h)
    {
        Vector512<uint> magnitude = (h & Vector512.Create(0x7FFFu)) << 13;
        Vector512<float> f = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(magnitude, Vector512.Create(0x0F800000u)).AsSingle(),
            (magnitude | Vector512.Create(0x7F800000u)).AsSingle(), magnitude.AsSingle() * Vector512.Create(TwoPow112));
        return (f.AsUInt32() | ((h & Vector512.Create(0x8000u)) << 16)).AsSingle();
    }

    /// <inheritdoc cref="HalfToSingle(Vector512{uint})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> HalfToSingle(Vector256<uint> h)
    {
        Vector256<uint> magnitude = (h & Vector256.Create(0x7FFFu)) << 13;
        Vector256<float> f = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(magnitude, Vector256.Create(0x0F800000u)).AsSingle(),
            (magnitude | Vector256.Create(0x7F800000u)).AsSingle(), magnitude.AsSingle() * Vector256.Create(TwoPow112));
        return (f.AsUInt32() | ((h & Vector256.Create(0x8000u)) << 16)).AsSingle();
    }

    /// <summary>F32 to F16 bits with round-to-nearest-even, as ggml's <c>GGML_FP32_TO_FP16</c> (F16C <c>vcvtps2ph</c> with imm 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort SingleToHalf(float f) => BitConverter.HalfToUInt16Bits((Half)f);

    /// <summary>BF16 bits to F32 (exact: BF16 is the upper half of an F32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BFloat16ToSingle(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary>
    /// F32 to BF16 bits exactly as ggml's <c>ggml_compute_fp32_to_bf16</c>: NaN keeps its top bits and is
    /// forced quiet (| 64), everything else rounds to nearest even (subnormals are kept, not flushed).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort SingleToBFloat16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7FFFFFFF) > 0x7F800000)
            return (ushort)((u >> 16) | 64);
        return (ushort)((u + (0x7FFF + ((u >> 16) & 1))) >> 16);
    }

    /// <summary>Vector form of <see cref="SingleToBFloat16"/> for 2 x 8 floats, packed in order into 16 BF16 values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ushort> SingleToBFloat16(Vector256<float> lo, Vector256<float> hi) =>
        Vector256.Narrow(SingleToBFloat16Bits(lo), SingleToBFloat16Bits(hi));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> SingleToBFloat16Bits(Vector256<float> f)
    {
        Vector256<uint> u = f.AsUInt32();
        Vector256<uint> rounded = (u + Vector256.Create(0x7FFFu) + ((u >> 16) & Vector256<uint>.One)) >> 16;
        Vector256<uint> nan = (u >> 16) | Vector256.Create(64u);
        Vector256<uint> isNan = Vector256.GreaterThan(u & Vector256.Create(0x7FFFFFFFu), Vector256.Create(0x7F800000u));
        return Vector256.ConditionalSelect(isNan, nan, rounded);
    }

    // Pair widening: a 32-bit lane of an F16/BF16 row holds elements 2i (low half) and 2i+1 (high half).
    // A dot product does not care which lane an element lands in as long as both rows use the same mapping,
    // so splitting lanes into "even" and "odd" vectors widens 16-bit floats without any cross-lane shuffle.

    /// <summary>F32 values of the low (even) F16 halves of each 32-bit lane. Exact for finite values; see <see cref="HalfExponentsAllOnes"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> HalfEvenToSingle(Vector512<uint> v)
    {
        Vector512<uint> bits = ((v << 13) & Vector512.Create(0x0FFFE000u)) | ((v << 16) & Vector512.Create(0x80000000u));
        return bits.AsSingle() * Vector512.Create(TwoPow112);
    }

    /// <summary>F32 values of the high (odd) F16 halves of each 32-bit lane. Exact for finite values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> HalfOddToSingle(Vector512<uint> v)
    {
        Vector512<uint> bits = ((v >> 3) & Vector512.Create(0x0FFFE000u)) | (v & Vector512.Create(0x80000000u));
        return bits.AsSingle() * Vector512.Create(TwoPow112);
    }

    /// <inheritdoc cref="HalfEvenToSingle(Vector512{uint})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> HalfEvenToSingle(Vector256<uint> v)
    {
        Vector256<uint> bits = ((v << 13) & Vector256.Create(0x0FFFE000u)) | ((v << 16) & Vector256.Create(0x80000000u));
        return bits.AsSingle() * Vector256.Create(TwoPow112);
    }

    /// <inheritdoc cref="HalfOddToSingle(Vector512{uint})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> HalfOddToSingle(Vector256<uint> v)
    {
        Vector256<uint> bits = ((v >> 3) & Vector256.Create(0x0FFFE000u)) | (v & Vector256.Create(0x80000000u));
        return bits.AsSingle() * Vector256.Create(TwoPow112);
    }

    /// <summary>
    /// Lanes whose F16 exponent field is all ones (inf/NaN) keep 0x7C00 here, others less; callers take the
    /// running maximum and, if it reaches 0x7C00, redo the row on the exact scalar path. This keeps the
    /// inf/NaN fix-up out of the hot loop (weights and activations are finite in practice).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<ushort> HalfExponents(Vector512<uint> v) => v.AsUInt16() & Vector512.Create((ushort)0x7C00);

    /// <inheritdoc cref="HalfExponents(Vector512{uint})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ushort> HalfExponents(Vector256<uint> v) => v.AsUInt16() & Vector256.Create((ushort)0x7C00);

    /// <summary>True when some lane of a running <see cref="HalfExponents(Vector512{uint})"/> maximum is inf/NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool HalfExponentsAllOnes(Vector512<ushort> maxExponents) =>
        Vector512.EqualsAny(maxExponents, Vector512.Create((ushort)0x7C00));

    /// <inheritdoc cref="HalfExponentsAllOnes(Vector512{ushort})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool HalfExponentsAllOnes(Vector256<ushort> maxExponents) =>
        Vector256.EqualsAny(maxExponents, Vector256.Create((ushort)0x7C00));

    /// <summary>Whether any of the F16 values <paramref name="bits"/> is an inf or NaN (exponent field all ones).</summary>
    public static bool AnyHalfInfNan(ReadOnlySpan<ushort> bits)
    {
        ref ushort b = ref MemoryMarshal.GetReference(bits);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<ushort> max = Vector256<ushort>.Zero;
            for (; i + Vector256<ushort>.Count <= bits.Length; i += Vector256<ushort>.Count)
                max = Vector256.Max(max, Vector256.LoadUnsafe(ref b, (nuint)i) & Vector256.Create((ushort)0x7C00));
            if (HalfExponentsAllOnes(max)) return true;
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            Vector128<ushort> max = Vector128<ushort>.Zero;
            for (; i + Vector128<ushort>.Count <= bits.Length; i += Vector128<ushort>.Count)
                max = Vector128.Max(max, Vector128.LoadUnsafe(ref b, (nuint)i) & Vector128.Create((ushort)0x7C00));
            if (Vector128.EqualsAny(max, Vector128.Create((ushort)0x7C00))) return true;
        }
        for (; i < bits.Length; i++)
            if ((Unsafe.Add(ref b, i) & 0x7C00) == 0x7C00) return true;
        return false;
    }
}
