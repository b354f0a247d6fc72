using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Several tokens' F16-rounded activations (from an <see cref="F16ActivationPanel"/>) in the lane order in which
/// <see cref="F16PairTileAvx512"/> widens weights by unpacking (as <see cref="F16GemvPanel"/> lays out one token), and
/// scaled by 2^112 to undo the unpacked weights' 2^-112: per 32 elements, 16 floats for the low unpack (elements
/// 8q..8q+3 of each 8-element quarter q) then 16 for the high (8q+4..8q+7). The products are exact either way, so the
/// sums match the plain widening's bit for bit. Only the vector part (<see cref="F16ActivationPanel.VectorEnd"/>) is
/// laid out; the tail and inf/NaN tokens are finished from <see cref="Source"/>.
/// </summary>
internal readonly unsafe struct F16UnpackedPanel
{
    public readonly F16ActivationPanel Source;

    /// <summary>Token t's permuted, scaled vector part at <c>Permuted + t × Stride</c>.</summary>
    public readonly float* Permuted;

    public readonly int Stride;

    /// <summary>Floats of <paramref name="tokens"/> tokens of <paramref name="cols"/> columns (the source panel's stride).</summary>
    public static long FloatsNeeded(int tokens, int cols) => (long)tokens * ((cols + 15) & ~15);

    /// <param name="permuted">64-byte aligned room for <see cref="FloatsNeeded"/> floats.</param>
    public F16UnpackedPanel(in F16ActivationPanel source, float* permuted)
    {
        Source = source;
        Permuted = permuted;
        Stride = source.Stride;
        for (int t = 0; t < source.Tokens; t++)
            Permute(source.Row(t), permuted + (long)t * Stride, F16ActivationPanel.VectorEnd(source.Cols));
    }

    public int Tokens => Source.Tokens;

    public float* Row(int t) => Permuted + (long)t * Stride;

    /// <summary>
    /// The permuted rows as a panel, for the row tiles over rows widened the unpacking way
    /// (<see cref="F16WidenedRows.WidenUnpacked"/>); its inf/NaN flags are <see cref="Source"/>'s.
    /// </summary>
    public F16ActivationPanel Kernel => Source.WithRows(Permuted);

    /// <summary>
    /// Elements 0..<paramref name="vectorEnd"/> (a multiple of 32) of <paramref name="row"/> into <paramref name="dst"/> in
    /// unpack order, times 2^112 (AVX-512 F): the layout of ggml width 16's unpacking kernels, <see cref="F16GemvPanel"/>'s too.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Permute(float* row, float* dst, int vectorEnd)
    {
        // Lane p of the low unpack holds element 8 (p / 4) + p % 4 of a 32-element chunk, the high one that + 4.
        Vector512<int> low = Vector512.Create(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
        Vector512<int> high = Vector512.Create(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
        Vector512<float> scale = Vector512.Create(FloatConversions.TwoPow112);
        for (int c = 0; c < vectorEnd; c += 32)
        {
            Vector512<float> a = Vector512.Load(row + c), b = Vector512.Load(row + c + 16);
            Vector512.Store(Avx512F.PermuteVar16x32x2(a, low, b) * scale, dst + c);
            Vector512.Store(Avx512F.PermuteVar16x32x2(a, high, b) * scale, dst + c + 16);
        }
    }
}
