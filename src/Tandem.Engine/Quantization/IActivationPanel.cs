namespace Tandem.Engine.Quantization;

/// <summary>
/// Activations converted once per matmul into the layout a tiled kernel reads (<see cref="Q8ActivationPanel"/>,
/// <see cref="F16ActivationPanel"/>). Tokens are independent, so a team can fill them in parallel.
/// </summary>
internal interface IActivationPanel
{
    /// <summary>Activation rows (tokens) the panel holds.</summary>
    int Tokens { get; }

    /// <summary>Converts token <paramref name="t"/>'s F32 row into the panel.</summary>
    void Write(int t, ReadOnlySpan<float> row);
}
