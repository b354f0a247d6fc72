namespace Tandem.Planning.Replanning;

/// <summary>What the last window of traffic looked like: arrival rate and the prompt and answer length distributions (mean, CV).</summary>
public sealed record ObservedWorkload(double WindowSeconds, int Requests, double Rate, double InputMean, double InputCv, double OutputMean, double OutputCv);

/// <summary>
/// A sliding window over finished requests (DistServe's workload monitor): each is recorded with its arrival time
/// and its prompt and answer lengths; <see cref="Observe"/> summarises those that arrived in the last
/// <see cref="WindowSeconds"/>. Requests still running are not in it yet, so under overload the rate reads low by
/// what queues up. Thread-safe; memory is bounded by the window (and <see cref="MaxRequests"/>).
/// </summary>
public sealed class WorkloadWindow
{
    /// <summary>Most requests kept: far above any rate a window of this engine sees, a guard against memory growth.</summary>
    public const int MaxRequests = 1_000_000;

    private readonly Queue<(double Arrival, int Input, int Output)> _requests = new();
    private readonly object _gate = new();

    public WorkloadWindow(double windowSeconds)
    {
        if (!(windowSeconds > 0) || double.IsInfinity(windowSeconds)) throw new ArgumentOutOfRangeException(nameof(windowSeconds), $"--replan-window must be positive seconds, got {windowSeconds}");
        WindowSeconds = windowSeconds;
    }

    public double WindowSeconds { get; }

    /// <summary>Records a finished request that arrived at <paramref name="arrival"/> (seconds on the caller's clock).</summary>
    public void Record(double arrival, int promptTokens, int outputTokens)
    {
        lock (_gate)
        {
            _requests.Enqueue((arrival, promptTokens, outputTokens));
            while (_requests.Count > MaxRequests) _requests.Dequeue();
        }
    }

    /// <summary>The requests that arrived in (now − window, now]; null when there are none.</summary>
    public ObservedWorkload? Observe(double now)
    {
        lock (_gate)
        {
            // Entries are in finish order, not arrival order: drop from the front what has left the window (the window
            // only moves forward), and skip older arrivals still queued behind newer ones until they reach the front.
            double from = now - WindowSeconds;
            while (_requests.Count > 0 && _requests.Peek().Arrival <= from) _requests.Dequeue();
            int n = 0;
            double inSum = 0, inSq = 0, outSum = 0, outSq = 0;
            foreach (var (arrival, input, output) in _requests)
            {
                if (arrival <= from || arrival > now) continue;
                n++;
                inSum += input; inSq += (double)input * input;
                outSum += output; outSq += (double)output * output;
            }
            if (n == 0) return null;
            double inMean = inSum / n, outMean = outSum / n;
            return new ObservedWorkload(WindowSeconds, n, n / WindowSeconds, inMean, Cv(inSq / n, inMean), outMean, Cv(outSq / n, outMean));
        }
    }

    private static double Cv(double meanOfSquares, double mean) => mean <= 0 ? 0 : Math.Sqrt(Math.Max(0, meanOfSquares - mean * mean)) / mean;
}
