namespace Tandem.Bench;

/// <summary>
/// One engine's prefill and decode rates on one file, one figure per timed repetition (tokens/s), kept
/// apart so that a report can show the spread and not only the mean.
/// </summary>
public sealed record EngineTiming(double[] PrefillTokPerSec, double[] DecodeTokPerSec)
{
    /// <summary>Mean of the per-repetition rates, as llama-bench's avg_ts.</summary>
    public double Prefill => PrefillTokPerSec.Average();

    /// <summary>Mean of the per-repetition rates, as llama-bench's avg_ts.</summary>
    public double Decode => DecodeTokPerSec.Average();
}
