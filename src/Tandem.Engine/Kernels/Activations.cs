namespace Tandem.Engine.Kernels;

/// <summary>Element-wise activations of the feed-forward block.</summary>
public static class Activations
{
    /// <summary>
    /// SwiGLU in place over rows of <paramref name="rowLength"/>: gate[i] = silu(gate[i]) * up[i],
    /// silu(x) = x / (1 + e^-x). Computed as ggml's <c>ggml_vec_swiglu_f32</c> bit for bit (see
    /// <see cref="GgmlExp"/>), row by row since ggml's vector chunks restart at each row: a 1-ulp difference
    /// here is enough to flip the rounding of an activation quantised for the next matmul and move the
    /// logits by ~1e-2.
    /// </summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up, int rowLength)
    {
        if (rowLength <= 0 || gate.Length % rowLength != 0 || up.Length < gate.Length)
            throw new ArgumentException($"SwiGLU over {gate.Length} values in rows of {rowLength}");
        for (int i = 0; i < gate.Length; i += rowLength)
            GgmlExp.SwiGlu(gate.Slice(i, rowLength), up.Slice(i, rowLength), gate.Slice(i, rowLength));
    }
}
