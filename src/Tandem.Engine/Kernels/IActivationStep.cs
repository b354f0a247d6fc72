namespace Tandem.Engine.Kernels;

/// <summary>
/// Per-token work that produces a matmul's input row (the RMSNorm of a layer's input, the SwiGLU of the FFN's hidden
/// row), handed to <see cref="MatMul.Run(in WeightMatrix, ReadOnlySpan{float}, Span{float}, int, IActivationStep?)"/>:
/// the matmul runs it on token t's row just before it converts that row for its kernels, inside the same team job.
/// So the work is split over the team instead of running on the calling thread between jobs, and it costs no job of
/// its own. Rows are independent: a step may touch only token t's rows.
/// </summary>
public interface IActivationStep
{
    /// <summary>Writes token <paramref name="token"/>'s row of the matmul's input (in place, in the x it was given).</summary>
    void Apply(int token);
}
