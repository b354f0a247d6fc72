namespace Tandem.Planning.Profiles;

/// <summary>
/// Step-time models of one parallel configuration: <see cref="Tp"/> is the intra-operator degree (threads of one
/// instance on a CPU, tensor-parallel GPUs with a GPU profile). Pipeline parallelism is not profiled: the simulator
/// builds it from these times, as DistServe's simulator does.
/// </summary>
public sealed record ConfigLatency
{
    public required int Tp { get; init; }
    /// <summary>Seconds for a prefill step: A + B·Σl + C·Σl² (l: tokens of each chunk; see <see cref="StepShape"/>).</summary>
    public required StepCoefficients Prefill { get; init; }
    /// <summary>Seconds for a decode step: A + B·Σctx + C·batch, by batch-size range, smallest range first.</summary>
    public required IReadOnlyList<DecodePiece> Decode { get; init; }
    /// <summary>Held-out error of the prefill fit (null for published coefficients).</summary>
    public FitError? PrefillFit { get; init; }
    public FitError? DecodeFit { get; init; }

    public double PrefillSeconds(double sumTokens, double sumSquares) => Prefill.Evaluate(sumTokens, sumSquares);

    public double DecodeSeconds(double sumContext, int batch)
    {
        var pieces = Decode;
        for (int i = 0; i < pieces.Count - 1; i++)
            if (pieces[i].MaxBatch is int max && batch <= max) return pieces[i].Coefficients.Evaluate(sumContext, batch);
        return pieces[^1].Coefficients.Evaluate(sumContext, batch);
    }
}
