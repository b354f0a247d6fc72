using System.Runtime.InteropServices;
using static Tandem.Engine.Quantization.KQuantBlocks;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Q8_K, the activation type the K-quants are dotted with (ggml never stores weights in it):
/// per 256 elements a float scale d, 256 int8 quants and 16 int16 sums of 16 quants each.
/// </summary>
public static class ActivationQ8_K
{
    /// <summary>
    /// Bit for bit what llama.cpp's CPU backend computes on x86. There quantize_row_q8_K
    /// (ggml-cpu/arch/x86/quants.c) simply calls the scalar quantize_row_q8_K_ref (ggml-quants.c); no
    /// AVX version exists. Matched: amax over |x| keeping the signed value of the first maximum (strict
    /// '&gt;'), iscale = −127/max (so the largest magnitude maps to −127 and its sign flips), nearest_int
    /// (round half to even via the 1.5·2^23 trick), min(127, v) with no lower clamp, bsums as plain int
    /// sums of 16 quants, and d = 1/iscale stored as float. An all-zero block gets d = 0 and zero quants;
    /// ggml leaves its bsums untouched there, we write zeros (they are only ever multiplied by d = 0).
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        int nb = BlockCount(src.Length);
        for (int i = 0; i < nb; i++)
        {
            ReadOnlySpan<float> x = src.Slice(i * QK, QK);
            Span<byte> b = dst.Slice(i * Q8KBytes, Q8KBytes);
            Span<sbyte> qs = MemoryMarshal.Cast<byte, sbyte>(b.Slice(Q8KQsOffset, QK));
            Span<short> bsums = MemoryMarshal.Cast<byte, short>(b.Slice(Q8KBsumsOffset, 32));

            float max = 0, amax = 0;
            for (int j = 0; j < QK; j++)
            {
                float ax = MathF.Abs(x[j]);
                if (ax > amax)
                {
                    amax = ax;
                    max = x[j];
                }
            }
            if (amax == 0)
            {
                MemoryMarshal.Write(b, 0f);
                qs.Clear();
                bsums.Clear();
                continue;
            }

            float iscale = -127f / max;
            for (int j = 0; j < QK; j++)
                qs[j] = (sbyte)Math.Min(127, NearestInt(iscale * x[j]));
            for (int j = 0; j < 16; j++)
            {
                int sum = 0;
                for (int k = 0; k < 16; k++) sum += qs[16 * j + k];
                bsums[j] = (short)sum;
            }
            MemoryMarshal.Write(b, 1 / iscale);
        }
    }
}
