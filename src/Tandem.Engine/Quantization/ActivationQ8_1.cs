using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static Tandem.Engine.Quantization.LegacyQuantMath;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Q8_1, the activation type of Q4_1 and Q5_1 (ggml never stores weights in it). Blocks of 32 as ggml's
/// <c>block_q8_1</c> (36 bytes): F16 <c>d</c>, F16 <c>s</c> = d * (sum of the quants), then 32 int8 quants.
/// <c>s</c> lets the dot product apply the weights' per-block minimum without touching the quants.
/// </summary>
public static class ActivationQ8_1
{
    public const int BlockBytes = 2 + 2 + 32;

    /// <summary>
    /// Quantises as ggml-cpu's x86 AVX2 <c>quantize_row_q8_1</c> (see <see cref="LegacyQuantMath.QuantizeQ8Block"/>:
    /// id = 127/amax, round half to even), with <c>s = FP16(d * sum)</c> computed from the F32 <c>d</c>
    /// (not from the F16-rounded one), as ggml does.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        int nb = BlockCount(src, dst.Length, BlockBytes);
        ref byte y = ref MemoryMarshal.GetReference(dst);
        for (int ib = 0; ib < nb; ib++)
        {
            ref byte block = ref Unsafe.Add(ref y, ib * BlockBytes);
            float d = QuantizeQ8Block(src.Slice(ib * BlockSize, BlockSize), ref Unsafe.Add(ref block, 4), out int sum);
            WriteHalf(ref block, 0, d);
            WriteHalf(ref block, 2, d * sum);
        }
    }

    /// <summary>Decodes quants as q * d (the <c>s</c> field is derived data and is not needed).</summary>
    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int nb = BlockCount(dst.Length, src.Length, BlockBytes, "source");
        for (int ib = 0; ib < nb; ib++)
        {
            ReadOnlySpan<byte> block = src.Slice(ib * BlockBytes, BlockBytes);
            float d = HalfAt(block, 0);
            for (int j = 0; j < BlockSize; j++)
                dst[ib * BlockSize + j] = (sbyte)block[4 + j] * d;
        }
    }
}
