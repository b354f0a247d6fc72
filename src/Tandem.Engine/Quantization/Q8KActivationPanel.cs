using System.Runtime.CompilerServices;
using static Tandem.Engine.Quantization.KQuantBlocks;

namespace Tandem.Engine.Quantization;

/// <summary>
/// A batch of activation rows quantised to Q8_K (exactly <see cref="ActivationQ8_K.Quantize"/>'s quants, scales
/// and block sums) laid out for the tiled K-quant kernels, tokens in pairs as in <see cref="Q8ActivationPanel"/>:
/// <list type="bullet">
/// <item>quants: for pair p and super-block s, 512 bytes at <c>Quants + (p * Blocks + s) * 512</c>, eight chunks of
/// 64 bytes, chunk c holding the first token's quants 32c..32c+31 then the second token's, so one 512-bit load
/// serves both tokens of a pair;</item>
/// <item>scales: the two tokens' F32 <c>d</c> at <c>Scales + (p * Blocks + s) * 2</c>;</item>
/// <item>sub-block sums: per pair and super-block 16 shorts, the first token's eight 32-element sums (ggml's
/// <c>hadd</c> of adjacent <c>bsums</c>, as its dot kernels form them) then the second token's.</item>
/// </list>
/// An odd last token is written into both halves of its pair. The panel is a view of memory owned by the caller.
/// </summary>
internal readonly unsafe struct Q8KActivationPanel : IActivationPanel
{
    public const int PairBlockBytes = 2 * QK;
    public const int Alignment = 64;

    public readonly sbyte* Quants;
    public readonly float* Scales;
    public readonly short* SubBlockSums;
    /// <summary>256-element super-blocks per token.</summary>
    public readonly int Blocks;
    public int Tokens { get; }

    public int Pairs => (Tokens + 1) / 2;

    public static long BytesNeeded(int tokens, int cols)
    {
        long pairBlocks = (long)(tokens + 1) / 2 * (cols / QK);
        return pairBlocks * (PairBlockBytes + 2 * sizeof(float) + 16 * sizeof(short));
    }

    /// <param name="buffer">At least <see cref="BytesNeeded"/> bytes, aligned to <see cref="Alignment"/>.</param>
    public Q8KActivationPanel(byte* buffer, int tokens, int cols)
    {
        Blocks = BlockCount(cols);
        if ((nuint)buffer % Alignment != 0)
            throw new ArgumentException($"the panel buffer must be aligned to {Alignment} bytes", nameof(buffer));
        Tokens = tokens;
        long pairBlocks = (long)Pairs * Blocks;
        Quants = (sbyte*)buffer;
        SubBlockSums = (short*)(buffer + pairBlocks * PairBlockBytes);
        Scales = (float*)(SubBlockSums + pairBlocks * 16);
    }

    /// <summary>Quantises token <paramref name="t"/>'s row (and its duplicate when it is an odd last token).</summary>
    public void Write(int t, ReadOnlySpan<float> row)
    {
        if (row.Length != Blocks * QK)
            throw new ArgumentException($"row has {row.Length} elements, the panel {Blocks * QK}", nameof(row));
        byte* block = stackalloc byte[Q8KBytes];
        var blockSpan = new Span<byte>(block, Q8KBytes);
        int half = t & 1;
        bool duplicate = half == 0 && t == Tokens - 1;
        for (int s = 0; s < Blocks; s++)
        {
            ActivationQ8_K.Quantize(row.Slice(s * QK, QK), blockSpan);
            long pairBlock = (long)(t >> 1) * Blocks + s;
            for (int copy = half; copy <= (duplicate ? 1 : half); copy++)
            {
                sbyte* q = Quants + pairBlock * PairBlockBytes + copy * 32;
                for (int c = 0; c < 8; c++)
                    Unsafe.CopyBlockUnaligned(q + c * 64, block + Q8KQsOffset + 32 * c, 32);
                short* bsums = (short*)(block + Q8KBsumsOffset);
                short* sums = SubBlockSums + pairBlock * 16 + copy * 8;
                for (int k = 0; k < 8; k++)
                    sums[k] = (short)(bsums[2 * k] + bsums[2 * k + 1]);
                Scales[pairBlock * 2 + copy] = *(float*)block;
            }
        }
    }
}
