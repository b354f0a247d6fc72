using Tandem.Benchmark.Client;
using Tandem.Benchmark.Metrics;
using Tandem.Benchmark.Workloads;

namespace Tandem.Benchmark;

/// <summary>Everything <c>tandem bench serve</c> takes (see <see cref="ServeBenchmark"/>).</summary>
public sealed record ServeBenchmarkOptions
{
    public required Uri BaseUrl { get; init; }
    public ApiEndpoint Endpoint { get; init; } = ApiEndpoint.Completions;
    /// <summary>Null: the first model the server lists.</summary>
    public string? Model { get; init; }
    public string? ApiKey { get; init; }
    /// <summary>Name for this system in tables and plots (default: the model).</summary>
    public string? Label { get; init; }

    /// <summary>A preset name (<see cref="WorkloadSpec.PresetNames"/>); ignored when <see cref="Dataset"/> is set.</summary>
    public string Workload { get; init; } = "fixed";
    public string? Dataset { get; init; }
    public int NumPrompts { get; init; } = 100;
    public int? InputLength { get; init; }
    public int? OutputLength { get; init; }
    public double? InputCv { get; init; }
    public double? OutputCv { get; init; }
    public int? MaxModelLength { get; init; }
    public PromptFormat PromptFormat { get; init; } = PromptFormat.Text;
    public int TokenIdMin { get; init; } = PromptBuilder.DefaultTokenIdMin;
    public int TokenIdMax { get; init; } = PromptBuilder.DefaultTokenIdMax;

    /// <summary>Rates to run, one run each (requests per second; infinity = all at once). Ignored by a goodput search.</summary>
    public IReadOnlyList<double> Rates { get; init; } = [double.PositiveInfinity];
    /// <summary>Coefficient of variation of the gaps between arrivals: 1 = Poisson.</summary>
    public double ArrivalCv { get; init; } = 1.0;
    public int Seed { get; init; }
    public int? MaxConcurrency { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);
    public SloSpec Slo { get; init; } = SloSpec.None;
    public LatencyOrigin LatencyOrigin { get; init; } = LatencyOrigin.Arrival;
    /// <summary>Cores or devices the server uses: per-device rates and goodput divide by it.</summary>
    public int Devices { get; init; } = 1;
    public bool RequestTimeline { get; init; } = true;
    /// <summary>
    /// Requests sent one after another before measuring (not recorded): they warm connections and code paths on both
    /// sides, and a failure stops the benchmark with the server's own error instead of a run of failed requests.
    /// </summary>
    public int WarmupRequests { get; init; } = 1;
    public bool IgnoreEos { get; init; } = true;

    /// <summary>Set to search goodput instead of running <see cref="Rates"/>.</summary>
    public Goodput.GoodputSearchOptions? Goodput { get; init; }

    public void Validate()
    {
        if (NumPrompts < 1) throw new ArgumentException($"--num-prompts must be at least 1, got {NumPrompts}");
        if (Devices < 1) throw new ArgumentException($"--per-core/--devices must be at least 1, got {Devices}");
        if (MaxConcurrency is < 1) throw new ArgumentException($"--max-concurrency must be at least 1, got {MaxConcurrency}");
        if (WarmupRequests < 0) throw new ArgumentException($"--warmup must be 0 or more, got {WarmupRequests}");
        if (Timeout <= TimeSpan.Zero) throw new ArgumentException("--timeout must be positive");
        if (Rates.Count == 0 || Rates.Any(r => !(r > 0))) throw new ArgumentException("rates must be positive (or inf)");
        if (!(ArrivalCv >= 0) || double.IsInfinity(ArrivalCv)) throw new ArgumentException($"--cv must be 0 or more, got {ArrivalCv}");
        if (PromptFormat == PromptFormat.TokenIds && Endpoint == ApiEndpoint.ChatCompletions)
            throw new ArgumentException("--token-ids needs the completions endpoint (chat messages are text)");
        if (PromptFormat == PromptFormat.TokenIds && Dataset is not null)
            throw new ArgumentException("--token-ids works with synthetic workloads only (a dataset's prompts are text)");
        if (Goodput is { } g)
        {
            g.Validate();
            if (double.IsPositiveInfinity(Slo.TtftSeconds) && double.IsPositiveInfinity(Slo.TpotSeconds))
                throw new ArgumentException("--goodput needs an SLO: give --slo-ttft and/or --slo-tpot");
        }
    }
}
