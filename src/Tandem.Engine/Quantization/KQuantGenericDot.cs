using System.Runtime.InteropServices;
using static Tandem.Engine.Quantization.KQuantBlocks;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Ports of ggml's scalar ggml_vec_dot_q{4,5,6}_K_q8_K_generic (ggml-cpu/quants.c): unpack the quants to
/// int8, multiply with Q8_K in groups of 8 into eight int32 lanes per super-block, scale by d·y.d into eight
/// float lanes, subtract the mins through bsums. The fallback where AVX2 is missing and the tests' reference.
/// </summary>
internal static class KQuantGenericDot
{
    public static float Q4K(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        Q4KOrQ5K(weights, activations, n, fiveBit: false);

    public static float Q5K(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        Q4KOrQ5K(weights, activations, n, fiveBit: true);

    private static float Q4KOrQ5K(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n, bool fiveBit)
    {
        int nb = BlockCount(n);
        int blockBytes = fiveBit ? Q5KBytes : Q4KBytes;
        int qsOffset = fiveBit ? 48 : 16;
        Span<sbyte> aux8 = stackalloc sbyte[QK];
        Span<int> aux32 = stackalloc int[8];
        Span<float> sums = stackalloc float[8];
        Span<byte> scales = stackalloc byte[8];
        Span<byte> mins = stackalloc byte[8];
        sums.Clear();
        float sumf = 0;

        for (int i = 0; i < nb; i++)
        {
            ReadOnlySpan<byte> x = weights.Slice(i * blockBytes, blockBytes);
            ReadOnlySpan<byte> y = activations.Slice(i * Q8KBytes, Q8KBytes);
            ReadOnlySpan<byte> q4 = x.Slice(qsOffset, 128);
            ReadOnlySpan<sbyte> q8 = MemoryMarshal.Cast<byte, sbyte>(y.Slice(Q8KQsOffset, QK));
            ReadOnlySpan<short> bsums = MemoryMarshal.Cast<byte, short>(y.Slice(Q8KBsumsOffset, 32));
            float yd = MemoryMarshal.Read<float>(y);

            int m = 1;
            for (int j = 0; j < 4; j++)
            {
                for (int l = 0; l < 32; l++)
                {
                    int lo = q4[32 * j + l] & 0xF, hi = q4[32 * j + l] >> 4;
                    if (fiveBit)
                    {
                        byte h = x[16 + l];
                        lo += (h & m) != 0 ? 16 : 0;
                        hi += (h & (m << 1)) != 0 ? 16 : 0;
                    }
                    aux8[64 * j + l] = (sbyte)lo;
                    aux8[64 * j + 32 + l] = (sbyte)hi;
                }
                m <<= 2;
            }
            for (int j = 0; j < 8; j++)
                KQuantScales.GetScaleMin(j, x.Slice(4, 12), out scales[j], out mins[j]);

            int sumi = 0;
            for (int j = 0; j < 16; j++) sumi += bsums[j] * mins[j / 2];

            aux32.Clear();
            for (int j = 0; j < 8; j++)
            {
                int scale = scales[j];
                for (int g = 0; g < 4; g++)
                    for (int l = 0; l < 8; l++)
                        aux32[l] += scale * (short)(q8[32 * j + 8 * g + l] * aux8[32 * j + 8 * g + l]);
            }
            float d = ReadHalf(x, 0) * yd;
            for (int l = 0; l < 8; l++) sums[l] += d * aux32[l];
            float dmin = ReadHalf(x, 2) * yd;
            sumf -= dmin * sumi;
        }
        for (int l = 0; l < 8; l++) sumf += sums[l];
        return sumf;
    }

    public static float Q6K(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        int nb = BlockCount(n);
        Span<sbyte> aux8 = stackalloc sbyte[QK];
        Span<int> aux32 = stackalloc int[8];
        Span<float> sums = stackalloc float[8];
        sums.Clear();
        float sumf = 0;

        for (int i = 0; i < nb; i++)
        {
            ReadOnlySpan<byte> x = weights.Slice(i * Q6KBytes, Q6KBytes);
            ReadOnlySpan<byte> y = activations.Slice(i * Q8KBytes, Q8KBytes);
            ReadOnlySpan<sbyte> q8 = MemoryMarshal.Cast<byte, sbyte>(y.Slice(Q8KQsOffset, QK));
            ReadOnlySpan<sbyte> sc = MemoryMarshal.Cast<byte, sbyte>(x.Slice(192, 16));
            float yd = MemoryMarshal.Read<float>(y);

            for (int half = 0; half < 2; half++)
            {
                ReadOnlySpan<byte> ql = x.Slice(64 * half, 64);
                ReadOnlySpan<byte> qh = x.Slice(128 + 32 * half, 32);
                Span<sbyte> a = aux8.Slice(128 * half, 128);
                for (int l = 0; l < 32; l++)
                {
                    a[l] = (sbyte)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                    a[l + 32] = (sbyte)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                    a[l + 64] = (sbyte)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                    a[l + 96] = (sbyte)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
                }
            }

            aux32.Clear();
            for (int j = 0; j < 16; j++)
            {
                int scale = sc[j];
                for (int g = 0; g < 2; g++)
                    for (int l = 0; l < 8; l++)
                        aux32[l] += scale * (short)(q8[16 * j + 8 * g + l] * aux8[16 * j + 8 * g + l]);
            }
            float d = ReadHalf(x, 208) * yd;
            for (int l = 0; l < 8; l++) sums[l] += d * aux32[l];
        }
        for (int l = 0; l < 8; l++) sumf += sums[l];
        return sumf;
    }
}
