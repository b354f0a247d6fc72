using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Gguf;
using static Tandem.Engine.Quantization.LegacyQuantMath;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Q8_0 rows: blocks of 32 as ggml's <c>block_q8_0</c> (34 bytes): F16 scale <c>d</c>, then 32 int8 quants;
/// value = q * d. Used both for stored weights and as the activation type of Q4_0, Q5_0 and Q8_0.
/// </summary>
public readonly struct RowQ8_0 : IMultiRowDot
{
    public const int BlockBytes = 2 + 32;

    public static GgmlType Type => GgmlType.Q8_0;
    public static GgmlType DotType => GgmlType.Q8_0;

    /// <summary>ggml's <c>dequantize_row_q8_0</c>.</summary>
    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int nb = BlockCount(dst.Length, src.Length, BlockBytes, "source");
        for (int ib = 0; ib < nb; ib++)
        {
            ReadOnlySpan<byte> block = src.Slice(ib * BlockBytes, BlockBytes);
            Span<float> y = dst.Slice(ib * BlockSize, BlockSize);
            float d = HalfAt(block, 0);
            for (int j = 0; j < BlockSize; j++)
                y[j] = (sbyte)block[2 + j] * d;
        }
    }

    /// <summary>
    /// Quantises as ggml-cpu's x86 AVX2 <c>quantize_row_q8_0</c>, which is what llama.cpp applies to F32
    /// activations before a Q4_0/Q5_0/Q8_0 dot (see <see cref="LegacyQuantMath.QuantizeQ8Block"/>: id = 127/amax,
    /// round half to even). It differs from <c>quantize_row_q8_0_ref</c> (id = 1/d, roundf) only in ties and
    /// in the last bit of id, so it is also what we use to write Q8_0 weights.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        int nb = BlockCount(src, dst.Length, BlockBytes);
        ref byte y = ref MemoryMarshal.GetReference(dst);
        for (int ib = 0; ib < nb; ib++)
        {
            ref byte block = ref Unsafe.Add(ref y, ib * BlockBytes);
            float d = QuantizeQ8Block(src.Slice(ib * BlockSize, BlockSize), ref Unsafe.Add(ref block, 2), out _);
            WriteHalf(ref block, 0, d);
        }
    }

    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        int nb = BlockCount(n, weights.Length, BlockBytes, "weights");
        BlockCount(n, activations.Length, BlockBytes, "activations");
        return UseAvx2 ? DotAvx2(weights, activations, nb) : DotScalar(weights, activations, nb);
    }

    /// <summary>ggml's AVX2 <c>ggml_vec_dot_q8_0_q8_0</c>: one 8-lane accumulator, <c>acc = fma(dx*dy, sums, acc)</c> per block.</summary>
    internal static float DotAvx2(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int nb) =>
        LegacyDot4.Avx2Dot<Q8_0Block>(weights, activations, nb);

    /// <summary>
    /// Four activation rows at once; bit-identical to four <see cref="Dot"/> calls (see <see cref="LegacyDot4"/>).
    /// </summary>
    public static void Dot4(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> a0, ReadOnlySpan<byte> a1,
        ReadOnlySpan<byte> a2, ReadOnlySpan<byte> a3, int n, Span<float> results) =>
        LegacyDot4.Dot4<Q8_0Block>(weights, a0, a1, a2, a3, n, results);

    /// <summary>The AVX2 kernel's <c>qx</c> for one block.</summary>
    internal readonly struct Q8_0Block : ILegacyBlockDecoder
    {
        public static int BlockBytes => RowQ8_0.BlockBytes;

        public static float DotScalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int nb) =>
            RowQ8_0.DotScalar(weights, activations, nb);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<sbyte> Decode(ref byte block) =>
            Vector256.LoadUnsafe(ref Unsafe.Add(ref block, 2)).AsSByte();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void DecodePortable(ref byte block, out Vector128<sbyte> low, out Vector128<sbyte> high)
        {
            low = Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 2)).AsSByte();
            high = Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 18)).AsSByte();
        }
    }

    /// <summary>Portable form: exact integer block sums, F32 accumulation.</summary>
    internal static float DotScalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int nb)
    {
        float sum = 0f;
        for (int ib = 0; ib < nb; ib++)
        {
            ReadOnlySpan<byte> x = weights.Slice(ib * BlockBytes, BlockBytes);
            ReadOnlySpan<byte> y = activations.Slice(ib * BlockBytes, BlockBytes);
            int sumi = 0;
            for (int j = 0; j < BlockSize; j++)
                sumi += (sbyte)x[2 + j] * (sbyte)y[2 + j];
            sum += sumi * (HalfAt(x, 0) * HalfAt(y, 0));
        }
        return sum;
    }
}
