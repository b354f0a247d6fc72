using System.Numerics.Tensors;

namespace Tandem.Engine.Kernels;

/// <summary>Numerically stable softmax in place.</summary>
public static class Softmax
{
    /// <summary>
    /// x = exp(x - max) / sum over one attention row, as ggml's soft_max does it on the CPU, bit for bit: exp by
    /// <see cref="GgmlExp"/>, the sum in double over float vector sums, then one multiplication by (float)(1/sum).
    /// The row is treated as padded with masked (-inf) cells to a whole vector, as llama.cpp's KV rows are.
    /// </summary>
    public static void Apply(Span<float> x)
    {
        if (x.IsEmpty) return;
        float max = TensorPrimitives.Max(x);
        double sum = GgmlExp.ExpSubtractSum(x, max, x, padTail: true);
        TensorPrimitives.Multiply(x, (float)(1.0 / sum), x);
    }
}
