namespace Tandem.Engine.Kernels;

/// <summary>
/// The kernel loop of a matmul whose activations are already converted (a tiled kernel's panel, or dot-type rows):
/// computes some output items of one weight matrix. Taking the matrix per call lets one team job cover the rows of
/// several matrices that read the same activations (<see cref="MatMulParts"/>: Q, K and V; gate and up).
/// </summary>
internal unsafe interface IMatMulBody
{
    /// <summary>Items of <paramref name="w"/> as this body counts them (row tiles or rows); throws for a type it cannot run.</summary>
    int Items(in WeightMatrix w);

    /// <summary>y[t × w.Rows + r] for the rows of items <paramref name="begin"/>..<paramref name="end"/> of <paramref name="w"/> and every token.</summary>
    void Execute(in WeightMatrix w, float* y, int begin, int end, int worker);
}
