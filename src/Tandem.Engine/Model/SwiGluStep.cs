using Tandem.Engine.Kernels;

namespace Tandem.Engine.Model;

/// <summary>
/// The feed-forward activation as the down projection's <see cref="IActivationStep"/>: gate = silu(gate) · up on
/// token t's row, inside the job that quantises the row for the down projection (the SwiGLU of a 64-token batch ran
/// on the calling thread alone before, about a tenth of a decode step at B = 64).
/// </summary>
internal sealed class SwiGluStep(float[] gate, float[] up, int width) : IActivationStep
{
    public void Apply(int token) =>
        Activations.SwiGlu(gate.AsSpan(token * width, width), up.AsSpan(token * width, width), width);
}
