using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The one token of an F16 matmul (batch-1 decode) for the matrix × one-token kernels (<see cref="F16GemvAvx512"/>,
/// <see cref="F16GemvAvx2"/>): the <see cref="F16ActivationPanel"/>'s widened row, plus a copy of its vector part
/// in the lane order those kernels widen weights in.
/// <para>
/// Why the order: .NET has no F16 conversion instruction, and the shortest exact widening of a vector of F16 weights
/// interleaves them with zeros (<c>vpunpcklwd</c> / <c>vpunpckhwd</c>, which put each F16 in the top half of a 32-bit
/// lane) instead of zero-extending them in order. Each 128-bit lane of a load of 2W halves (W = ggml's width) then
/// gives its first four elements to the "low" vector and its last four to the "high" one. Every lane of those vectors
/// still receives one fixed element of each ggml step, i.e. accumulates exactly what one lane of one of ggml's
/// accumulators does, in the same order; the kernels put the lanes back in ggml's places before the reduction. The
/// activations only have to arrive in the same order, and this copy is that order: for the chunk of 2W elements at
/// c, <c>Permuted[c + p] = row[c + 8(p / 4) + p % 4]</c> and <c>Permuted[c + W + p] = row[c + 8(p / 4) + 4 + p % 4]</c>.
/// </para>
/// <para>
/// The copy is also scaled by 2^112, so the kernels can skip the widening's last step (the multiplication by 2^112
/// that rebiases the F16 exponent): a weight widened without it is exactly w · 2^-112 (a float with the F16's exponent
/// field, subnormal for F16 subnormals), so its exact product with y · 2^112 is exactly w · y and the FMA rounds
/// w · y + acc once, as <see cref="GgmlFloatDot.VecDotF16"/>'s does. Both scalings are exact: an F16 value times 2^112
/// stays below the largest float (65504 · 2^112 &lt; 2^128) and F16 subnormals are normal floats.
/// </para>
/// </summary>
internal readonly unsafe struct F16GemvPanel : IActivationPanel
{
    /// <summary>The token's row in element order (for the scalar tail and the inf/NaN fallback).</summary>
    public readonly F16ActivationPanel Source;

    /// <summary>The vector part of the row in the kernels' lane order, times 2^112; 64-byte aligned.</summary>
    public readonly float* Permuted;

    public int Tokens => 1;

    /// <summary>Floats <see cref="F16GemvPanel(in F16ActivationPanel, float*)"/>'s buffer must hold for rows of <paramref name="cols"/>.</summary>
    public static int FloatsNeeded(int cols) => F16ActivationPanel.VectorEnd(cols);

    /// <param name="source">A filled one-token panel.</param>
    /// <param name="permuted">At least <see cref="FloatsNeeded"/> floats, 64-byte aligned.</param>
    public F16GemvPanel(in F16ActivationPanel source, float* permuted)
    {
        if (source.Tokens != 1) throw new ArgumentException("the one-token kernels take a one-token panel", nameof(source));
        Source = source;
        Permuted = permuted;
        Permute();
    }

    /// <summary>
    /// Whether a row's result is its vector sum as the kernel returns it, unless that row holds an inf/NaN: no scalar
    /// tail and no inf/NaN in the token (<see cref="GgmlFloatDot.FinishWidened"/> would return the sum unchanged).
    /// </summary>
    public bool Plain => F16ActivationPanel.VectorEnd(Source.Cols) == Source.Cols && !Source.HasSpecial(0);

    /// <summary>
    /// Row <paramref name="w"/>'s result from its vector sum in *<paramref name="result"/>: the double tail, or the plain
    /// sum where the row's vector part (<paramref name="rowSpecial"/>) or the token holds an F16 inf/NaN.
    /// </summary>
    public void Finish(ushort* w, bool rowSpecial, float* result)
    {
        int cols = Source.Cols;
        *result = GgmlFloatDot.FinishWidened(w, Source.Row(0), cols, F16ActivationPanel.VectorEnd(cols),
            rowSpecial || Source.HasSpecial(0), *result);
    }

    /// <summary>Whether F16 elements 0..<paramref name="count"/> of <paramref name="w"/> hold an inf or NaN (exponent all ones).</summary>
    public static bool HasSpecial(ushort* w, int count) => FloatConversions.AnyHalfInfNan(new ReadOnlySpan<ushort>(w, count));

    public void Write(int t, ReadOnlySpan<float> row)
    {
        Source.Write(t, row);
        Permute();
    }

    private void Permute()
    {
        float* row = Source.Row(0);
        int width = GgmlSimd.Width, vectorEnd = F16ActivationPanel.VectorEnd(Source.Cols);
        if (width == 16)
        {
            F16UnpackedPanel.Permute(row, Permuted, vectorEnd); // the same lane order and scale, vectorised
            return;
        }
        for (int c = 0; c < vectorEnd; c += 2 * width)
            for (int p = 0; p < width; p++)
            {
                int e = 8 * (p / 4) + p % 4;
                Permuted[c + p] = row[c + e] * FloatConversions.TwoPow112;
                Permuted[c + width + p] = row[c + e + 4] * FloatConversions.TwoPow112;
            }
    }
}
