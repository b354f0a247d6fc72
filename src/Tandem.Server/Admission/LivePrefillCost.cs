using Tandem.Serving;

namespace Tandem.Server.Admission;

/// <summary>
/// Prefill time from step times measured live: the entry instances' (prefill or colocated) busy seconds per token
/// computed, smoothed over recent work. Colocated instances also run decode steps, which cost more per token, so
/// there the estimate errs toward refusing.
/// </summary>
internal sealed class LivePrefillCost : IPrefillCost
{
    /// <summary>Fewest new tokens before a new rate is taken in (smaller deltas are mostly loop overhead).</summary>
    private const long MinTokens = 64;
    /// <summary>Weight of the newest rate.</summary>
    private const double Smoothing = 0.3;

    private readonly object _lock = new();
    private double _busy;
    private long _tokens;
    private double? _secondsPerToken;

    /// <summary>Takes in the entry instances' counters from a snapshot.</summary>
    public void Observe(ServingSnapshot snapshot)
    {
        double busy = 0;
        long tokens = 0;
        foreach (var i in snapshot.Instances)
        {
            if (!AdmissionControl.IsEntry(i)) continue;
            busy += i.BusySeconds;
            tokens += i.TokensComputed;
        }
        lock (_lock)
        {
            long dt = tokens - _tokens;
            if (dt < MinTokens) return;
            double rate = Math.Max(0, busy - _busy) / dt;
            _secondsPerToken = _secondsPerToken is double old ? old + Smoothing * (rate - old) : rate;
            _busy = busy;
            _tokens = tokens;
        }
    }

    public double? Seconds(int requests, long tokens, double squares)
    {
        lock (_lock)
            return _secondsPerToken * tokens;
    }
}
