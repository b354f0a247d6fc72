using System.Runtime.CompilerServices;
using static Tandem.Engine.Quantization.LegacyQuantMath;

namespace Tandem.Engine.Quantization;

/// <summary>
/// A batch of activation rows quantised to Q8_0 (the same quants and scales as <see cref="RowQ8_0.Quantize"/>)
/// but laid out for the tiled matmul kernels rather than as Q8_0 rows:
/// <list type="bullet">
/// <item>tokens go in pairs; block b of pair p is 64 bytes at <c>Quants + (p * Blocks + b) * 64</c>: the first
/// token's 32 quants, then the second's, so one 512-bit load holds a block of two tokens (one 256-bit half each)
/// and the 256-bit kernels read each half separately. An odd last token is written into both halves (its
/// duplicate is computed and dropped), so every kernel works on whole pairs;</item>
/// <item>scales are F32 (the F16 scale widened once here instead of once per weight row in the kernels) at
/// <c>Scales + (p * Blocks + b) * 2 + half</c>, followed by <see cref="ScalePadding"/> spare floats so a
/// kernel may load a whole vector from the last pair's scales.</item>
/// </list>
/// The quants are those of ggml's x86 <c>quantize_row_q8_0</c>, in [-127, 127] (never -128), which the tiled
/// kernels rely on: it keeps their integer block sums exact whichever multiply-add instruction they use.
/// The panel is a view of memory owned by the caller (the matmul's scratch buffer).
/// </summary>
internal readonly unsafe struct Q8ActivationPanel : IActivationPanel
{
    /// <summary>Bytes of one pair's block: two tokens' 32 quants.</summary>
    public const int PairBlockBytes = 64;

    /// <summary>Floats after the last scale that a kernel may read (never uses): one 512-bit load.</summary>
    public const int ScalePadding = 16;

    /// <summary>Alignment the caller must give <see cref="Q8ActivationPanel(byte*, int, int)"/>'s buffer.</summary>
    public const int Alignment = 64;

    public readonly sbyte* Quants;
    public readonly float* Scales;
    /// <summary>32-element blocks per token.</summary>
    public readonly int Blocks;
    public int Tokens { get; }

    public int Pairs => (Tokens + 1) / 2;

    /// <summary>Bytes from one pair's quants to the next.</summary>
    public nint PairQuantStride => (nint)Blocks * PairBlockBytes;

    /// <summary>Floats from one pair's scales to the next.</summary>
    public nint PairScaleStride => (nint)Blocks * 2;

    /// <summary>Bytes a panel of <paramref name="tokens"/> rows of <paramref name="cols"/> elements needs.</summary>
    public static long BytesNeeded(int tokens, int cols)
    {
        long pairBlocks = (long)(tokens + 1) / 2 * (cols / BlockSize);
        return pairBlocks * PairBlockBytes + (pairBlocks * 2 + ScalePadding) * sizeof(float);
    }

    /// <param name="buffer">At least <see cref="BytesNeeded"/> bytes, aligned to <see cref="Alignment"/>.</param>
    public Q8ActivationPanel(byte* buffer, int tokens, int cols)
    {
        if (cols % BlockSize != 0)
            throw new ArgumentException($"row length {cols} is not a whole number of {BlockSize}-element blocks", nameof(cols));
        if ((nuint)buffer % Alignment != 0)
            throw new ArgumentException($"the panel buffer must be aligned to {Alignment} bytes", nameof(buffer));
        Tokens = tokens;
        Blocks = cols / BlockSize;
        Quants = (sbyte*)buffer;
        Scales = (float*)(buffer + (long)Pairs * PairQuantStride);
        // The padding is read, never used; keep it finite so no kernel ever touches a signalling pattern.
        new Span<float>(Scales + (long)Pairs * PairScaleStride, ScalePadding).Clear();
    }

    /// <summary>Quantises token <paramref name="t"/>'s row (and its duplicate when it is an odd last token).</summary>
    public void Write(int t, ReadOnlySpan<float> row)
    {
        if (row.Length != Blocks * BlockSize)
            throw new ArgumentException($"row has {row.Length} elements, the panel {Blocks * BlockSize}", nameof(row));
        int half = t & 1;
        sbyte* q = Quants + (t >> 1) * PairQuantStride + half * BlockSize;
        float* s = Scales + (t >> 1) * PairScaleStride + half;
        bool duplicate = half == 0 && t == Tokens - 1;
        for (int b = 0; b < Blocks; b++)
        {
            ref byte dst = ref Unsafe.AsRef<byte>(q + b * PairBlockBytes);
            float d = QuantizeQ8Block(row.Slice(b * BlockSize, BlockSize), ref dst, out _);
            // The dot products use the scale as stored in a Q8_0 block: rounded to F16.
            float scale = FloatConversions.HalfToSingle(FloatConversions.SingleToHalf(d));
            s[b * 2] = scale;
            if (duplicate)
            {
                Unsafe.CopyBlockUnaligned(ref Unsafe.Add(ref dst, BlockSize), ref dst, BlockSize);
                s[b * 2 + 1] = scale;
            }
        }
    }
}
