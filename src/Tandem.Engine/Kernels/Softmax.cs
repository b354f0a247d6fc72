using System.Numerics.Tensors;

namespace Tandem.Engine.Kernels;

/// <summary>Numerically stable softmax in place.</summary>
public static class Softmax
{
    /// <summary>
    /// x = exp(x - max) / sum. The sum is accumulated in double as ggml's soft_max does (ggml_float),
    /// which matters for long contexts where many small terms are added.
    /// </summary>
    public static void Apply(Span<float> x)
    {
        if (x.IsEmpty) return;
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, x);
        TensorPrimitives.Exp(x, x);
        double sum = 0;
        foreach (float v in x) sum += v;
        TensorPrimitives.Multiply(x, (float)(1.0 / sum), x);
    }
}
