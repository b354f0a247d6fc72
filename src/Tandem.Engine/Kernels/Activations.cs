using System.Numerics.Tensors;

namespace Tandem.Engine.Kernels;

/// <summary>Element-wise activations of the feed-forward block.</summary>
public static class Activations
{
    private const int Chunk = 512;

    /// <summary>SwiGLU in place: gate[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + e^-x), as ggml_silu.</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        Span<float> s = stackalloc float[Chunk];
        for (int i = 0; i < gate.Length; i += Chunk)
        {
            int n = Math.Min(Chunk, gate.Length - i);
            var g = gate.Slice(i, n);
            var e = s[..n];
            TensorPrimitives.Negate(g, e);
            TensorPrimitives.Exp(e, e);
            TensorPrimitives.Add(e, 1f, e);
            TensorPrimitives.Divide(g, e, g);
            TensorPrimitives.Multiply(g, up.Slice(i, n), g);
        }
    }
}
