using System.Numerics.Tensors;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Model;

/// <summary>
/// A layer's input norm as a matmul's <see cref="IActivationStep"/>: token t's row of the residual stream, after the
/// residual add of the block before it (<see cref="Delta"/>), RMS-normalised and scaled by the norm weight into token
/// t's row of the matmul input. Run inside the job that quantises the row, so the adds and norms of a batch are split
/// over the team instead of running on the calling thread before the matmul.
/// </summary>
internal sealed class RmsNormStep(float[] residual, float[] normed, int width, float eps) : IActivationStep
{
    /// <summary>The norm's weight (attn_norm or ffn_norm of the layer being run).</summary>
    public float[] Weight { get; set; } = [];

    /// <summary>The previous block's output, added into the residual stream first; null when there is none (layer 0).</summary>
    public float[]? Delta { get; set; }

    public void Apply(int token)
    {
        var x = residual.AsSpan(token * width, width);
        if (Delta != null) TensorPrimitives.Add(x, Delta.AsSpan(token * width, width), x);
        RmsNorm.Apply(x, Weight, normed.AsSpan(token * width, width), eps);
    }
}
