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

    /// <summary>A preset name (<see cref="WorkloadSpec.PresetNames"/>) or <c>fixed:IN:OUT</c>; ignored when <see cref="Dataset"/> or <see cref="Trace"/> is set.</summary>
    public string Workload { get; init; } = "fixed";
    /// <summary>JSONL of prompts, ShareGPT JSON, or a request trace (recognised by its <c>input_len</c> rows, see <see cref="TraceWorkload"/>).</summary>
    public string? Dataset { get; init; }
    /// <summary>A request trace (JSONL of input_len, output_len, arrival_time); the same as giving it as <see cref="Dataset"/>.</summary>
    public string? Trace { get; init; }
    /// <summary>
    /// With a timed trace and no <see cref="Rates"/>: multiplies the trace's times (2 = half as fast). Rates, when
    /// given, stretch the trace to each mean rate instead.
    /// </summary>
    public double TimeScale { get; init; } = 1.0;
    /// <summary>
    /// A GGUF file (model or vocabulary) whose tokenizer sizes text prompts exactly (<see cref="ExactTextPromptBuilder"/>)
    /// and counts dataset prompts; null: common words, about one token each, and four characters per token for datasets.
    /// </summary>
    public string? Tokenizer { get; init; }
    public int NumPrompts { get; init; } = 100;
    public int? InputLength { get; init; }
    public int? OutputLength { get; init; }
    public double? InputCv { get; init; }
    public double? OutputCv { get; init; }
    public int? MaxModelLength { get; init; }
    /// <summary>Multi-turn workload: turns per conversation (default <see cref="MultiTurnWorkload.DefaultTurns"/>).</summary>
    public int? Turns { get; init; }
    /// <summary>Multi-turn workload: tokens of the system prompt every conversation of a run shares (0: none).</summary>
    public int? SystemLength { get; init; }
    /// <summary>Multi-turn workload: mean seconds between an answer's end and the next turn (exponential; 0: at once).</summary>
    public double? ThinkTime { get; init; }
    public PromptFormat PromptFormat { get; init; } = PromptFormat.Text;
    public int TokenIdMin { get; init; } = PromptBuilder.DefaultTokenIdMin;
    public int TokenIdMax { get; init; } = PromptBuilder.DefaultTokenIdMax;

    /// <summary>
    /// Rates to run, one run each (requests per second; infinity = all at once). Ignored by a goodput search. Null:
    /// a timed trace's own pace (times <see cref="TimeScale"/>), otherwise all at once.
    /// </summary>
    public IReadOnlyList<double>? Rates { get; init; }
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
        if (Rates is { } rates && (rates.Count == 0 || rates.Any(r => !(r > 0)))) throw new ArgumentException("rates must be positive (or inf)");
        if (!(TimeScale > 0) || double.IsInfinity(TimeScale)) throw new ArgumentException($"--time-scale must be a positive number, got {TimeScale}");
        if (TimeScale != 1.0 && (Rates is not null || Goodput is not null))
            throw new ArgumentException("--time-scale replays a trace at its own pace: it does not combine with --rate/--rates or --goodput, which set the pace themselves");
        if (Trace is not null && Dataset is not null) throw new ArgumentException("give --trace or --dataset, not both");
        bool multiTurn = string.Equals(Workload, MultiTurnWorkload.Name, StringComparison.OrdinalIgnoreCase) && Trace is null && Dataset is null;
        if (!multiTurn && (Turns is not null || SystemLength is not null || ThinkTime is not null))
            throw new ArgumentException($"--turns, --system-len and --think-time shape the '{MultiTurnWorkload.Name}' workload: add --workload {MultiTurnWorkload.Name}");
        if (Tokenizer is not null && PromptFormat == PromptFormat.TokenIds)
            throw new ArgumentException("--tokenizer sizes text prompts; --token-ids sends ids: give one of them");
        if (!(ArrivalCv >= 0) || double.IsInfinity(ArrivalCv)) throw new ArgumentException($"--cv must be 0 or more, got {ArrivalCv}");
        if (PromptFormat == PromptFormat.TokenIds && Endpoint == ApiEndpoint.ChatCompletions)
            throw new ArgumentException("--token-ids needs the completions endpoint (chat messages are text)");
        if (Goodput is { } g)
        {
            g.Validate();
            if (double.IsPositiveInfinity(Slo.TtftSeconds) && double.IsPositiveInfinity(Slo.TpotSeconds))
                throw new ArgumentException("--goodput needs an SLO: give --slo-ttft and/or --slo-tpot");
        }
    }
}
