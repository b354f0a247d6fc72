namespace Tandem.Benchmark.Goodput;

/// <summary>How <see cref="GoodputSearch"/> looks for the highest rate meeting the attainment target.</summary>
public sealed record GoodputSearchOptions
{
    /// <summary>Attainment a rate must reach to pass (0.9 = 90% of requests meet both SLOs).</summary>
    public double Target { get; init; } = 0.9;
    /// <summary>The search stops when the passing and failing rates are this close (requests per second).</summary>
    public double Precision { get; init; } = 0.1;
    /// <summary>First rate probed; the search doubles or halves from it to bracket the goodput.</summary>
    public double InitialRate { get; init; } = 1.0;
    /// <summary>Below this rate a failure means goodput 0 (the SLO is out of reach even lightly loaded).</summary>
    public double MinRate { get; init; } = 1e-3;
    /// <summary>If this rate still passes, the search stops there (goodput is at least this).</summary>
    public double MaxRate { get; init; } = 1e4;

    public void Validate()
    {
        if (!(Target > 0 && Target <= 1)) throw new ArgumentOutOfRangeException(nameof(Target), $"--attainment must be in (0, 1], got {Target}");
        if (!(Precision > 0)) throw new ArgumentOutOfRangeException(nameof(Precision), $"--precision must be positive, got {Precision}");
        if (!(MinRate > 0 && MinRate <= InitialRate && InitialRate <= MaxRate) || double.IsInfinity(MaxRate))
            throw new ArgumentOutOfRangeException(nameof(InitialRate), $"rates must satisfy 0 < min <= initial <= max < inf, got {MinRate}, {InitialRate}, {MaxRate}");
    }
}

/// <summary>One rate tried by the search and what it gave.</summary>
public sealed record GoodputProbe(double Rate, double Attainment, bool Passed);

/// <summary>
/// The search's answer. <see cref="Goodput"/> is the highest rate seen to pass (0 when none did);
/// <see cref="LowestFailingRate"/> the lowest seen to fail (null when the search hit <c>MaxRate</c> still passing).
/// </summary>
public sealed record GoodputResult(double Goodput, double? LowestFailingRate, double Target, double Precision, IReadOnlyList<GoodputProbe> Probes);

/// <summary>
/// DistServe's goodput search: the highest request rate whose SLO attainment still reaches the target, found by
/// bisection. It takes the measurement as a function (rate → attainment), so it runs the same against a live
/// server, a simulator or a test's formula. It assumes attainment falls as the rate grows; where measurements are
/// noisy the answer is a rate that passed next to one that failed, within <see cref="GoodputSearchOptions.Precision"/>.
/// </summary>
public static class GoodputSearch
{
    public static async Task<GoodputResult> FindAsync(Func<double, CancellationToken, Task<double>> attainmentAt, GoodputSearchOptions options,
        Action<GoodputProbe>? onProbe = null, CancellationToken ct = default)
    {
        options.Validate();
        var probes = new List<GoodputProbe>();
        async Task<bool> Probe(double rate)
        {
            ct.ThrowIfCancellationRequested();
            double attainment = await attainmentAt(rate, ct).ConfigureAwait(false);
            var probe = new GoodputProbe(rate, attainment, attainment >= options.Target);
            probes.Add(probe);
            onProbe?.Invoke(probe);
            return probe.Passed;
        }

        // Bracket: grow from a passing rate until one fails, or shrink from a failing one until one passes.
        double lo, hi;
        double rate = options.InitialRate;
        if (await Probe(rate).ConfigureAwait(false))
        {
            lo = rate;
            while (true)
            {
                if (lo >= options.MaxRate) return Result(lo, null);
                rate = Math.Min(lo * 2, options.MaxRate);
                if (!await Probe(rate).ConfigureAwait(false)) { hi = rate; break; }
                lo = rate;
            }
        }
        else
        {
            hi = rate;
            while (true)
            {
                if (hi / 2 < options.MinRate) return Result(0, hi);
                rate = hi / 2;
                if (await Probe(rate).ConfigureAwait(false)) { lo = rate; break; }
                hi = rate;
            }
        }

        while (hi - lo > options.Precision)
        {
            double mid = (lo + hi) / 2;
            if (await Probe(mid).ConfigureAwait(false)) lo = mid; else hi = mid;
        }
        return Result(lo, hi);

        GoodputResult Result(double goodput, double? failing) => new(goodput, failing, options.Target, options.Precision, probes);
    }

    /// <summary>The same search over a synchronous measurement (a formula or a simulator).</summary>
    public static GoodputResult Find(Func<double, double> attainmentAt, GoodputSearchOptions options, Action<GoodputProbe>? onProbe = null) =>
        FindAsync((r, _) => Task.FromResult(attainmentAt(r)), options, onProbe).GetAwaiter().GetResult();
}
