using Tandem.Serving.Scheduling;

namespace Tandem.Planning.Profiles;

/// <summary>
/// What a step's time depends on, read off a <see cref="SchedulerOutput"/> before the step runs (the computed counts
/// still at their old values). Prompt work: <see cref="PrefillTokens"/> (Σl) and <see cref="PrefillSquares"/>, Σ(l² + 2·l·k)
/// for a chunk of l tokens after k already computed — the attention pairs the chunk adds, which is l² for a whole prompt,
/// so DistServe's Σl² is the special case. Decode work: <see cref="DecodeBatch"/> requests attending over
/// <see cref="DecodeContext"/> positions in all.
/// </summary>
public readonly record struct StepShape(int PrefillTokens, double PrefillSquares, int DecodeBatch, long DecodeContext)
{
    public bool IsDecodeOnly => PrefillTokens == 0;

    public static StepShape Of(SchedulerOutput output)
    {
        int prefill = 0, batch = 0;
        double squares = 0;
        long context = 0;
        foreach (var c in output.Scheduled)
        {
            var r = c.Request;
            int k = r.NumComputedTokens, n = c.NumTokens;
            // The same rule as SchedulerOutput's: one token, the one sampled last, of a request with output.
            if (n == 1 && r.NumOutputTokens > 0 && k == r.NumTokens - 1)
            {
                batch++;
                context += k + 1;
            }
            else
            {
                prefill += n;
                squares += (double)n * n + 2.0 * n * k;
            }
        }
        return new StepShape(prefill, squares, batch, context);
    }

    /// <summary>
    /// Seconds for this step under <paramref name="latency"/>. A decode-only step uses the decode model. A step with
    /// prompt work is compute-bound like a prefill, so it uses the prefill model with its decode tokens counted as
    /// one-token chunks (l = 1 after k = ctx − 1 computed: 1 + 2k attention pairs each).
    /// Never negative: a published fit with a negative coefficient must not run the clock backwards.
    /// </summary>
    public double Seconds(ConfigLatency latency) => Math.Max(0, IsDecodeOnly
        ? (DecodeBatch == 0 ? 0 : latency.DecodeSeconds(DecodeContext, DecodeBatch))
        : latency.PrefillSeconds(PrefillTokens + DecodeBatch, PrefillSquares + 2.0 * DecodeContext - DecodeBatch));
}
