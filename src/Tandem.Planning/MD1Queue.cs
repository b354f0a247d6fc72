namespace Tandem.Planning;

/// <summary>
/// The M/D/1 queue DistServe models one prefill instance with (paper §3.1): Poisson arrivals at rate R, a
/// constant service time D per request, one server. Mean time in system (the TTFT of a lone prefill instance)
/// is <c>D + R·D² / (2·(1 − R·D))</c>; the simulator is validated against it.
/// </summary>
public static class MD1Queue
{
    /// <summary>Utilisation ρ = R·D.</summary>
    public static double Utilisation(double rate, double serviceSeconds) => rate * serviceSeconds;

    /// <summary>Mean time a request waits before service starts: <c>R·D² / (2·(1 − ρ))</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">ρ ≥ 1 (the queue grows without bound) or a negative input.</exception>
    public static double MeanWaitSeconds(double rate, double serviceSeconds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rate);
        ArgumentOutOfRangeException.ThrowIfNegative(serviceSeconds);
        double rho = Utilisation(rate, serviceSeconds);
        if (rho >= 1)
            throw new ArgumentOutOfRangeException(nameof(rate), $"utilisation {rho:F3} ≥ 1: the queue has no steady state");
        return rate * serviceSeconds * serviceSeconds / (2 * (1 - rho));
    }

    /// <summary>Mean time in system: service plus wait, DistServe's average TTFT of one prefill instance.</summary>
    public static double MeanResponseSeconds(double rate, double serviceSeconds) =>
        serviceSeconds + MeanWaitSeconds(rate, serviceSeconds);
}
