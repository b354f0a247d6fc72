using Tandem.Engine.Gguf;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The row operations of one stored tensor type, as static members so that generic kernels
/// (<c>MatMul&lt;TRow&gt;</c>) are specialised by the JIT per type with no dispatch inside the loops.
/// A row is a whole number of blocks; <c>n</c> is its element count.
/// </summary>
public interface IRowType
{
    /// <summary>The stored type.</summary>
    static abstract GgmlType Type { get; }

    /// <summary>
    /// The type activations are converted to before <see cref="Dot"/>, as ggml's <c>vec_dot_type</c>
    /// (Q8_0 for Q4_0, Q8_K for the K-quants, F16 for F16 ...). Converting exactly as ggml does is what
    /// keeps our logits within float rounding of llama.cpp's.
    /// </summary>
    static abstract GgmlType DotType { get; }

    /// <summary>Decodes <c>dst.Length</c> elements from <paramref name="src"/>.</summary>
    static abstract void Dequantize(ReadOnlySpan<byte> src, Span<float> dst);

    /// <summary>Encodes <c>src.Length</c> elements into <paramref name="dst"/> (reference quantiser).</summary>
    static abstract void Quantize(ReadOnlySpan<float> src, Span<byte> dst);

    /// <summary>Dot product of a stored row with an activation row already converted to <see cref="DotType"/>.</summary>
    static abstract float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n);
}
