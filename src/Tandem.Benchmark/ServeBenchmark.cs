using System.Globalization;
using Tandem.Benchmark.Arrivals;
using Tandem.Benchmark.Client;
using Tandem.Benchmark.Goodput;
using Tandem.Benchmark.Reports;
using Tandem.Benchmark.Workloads;

namespace Tandem.Benchmark;

/// <summary>
/// <c>tandem bench serve</c> without the console: draws the workload, then runs it at each rate (a sweep) or
/// bisects the goodput, and returns the whole <see cref="BenchReport"/>. Every run replays the same lengths and the
/// same arrival pattern stretched to its rate, so runs differ only in load; each run's prompts are its own
/// (<see cref="RunPrompts"/>), so no server answers them from a prompt cache filled by the warm-up or an earlier run.
/// </summary>
public static class ServeBenchmark
{
    public static async Task<BenchReport> RunAsync(ServeBenchmarkOptions options, IBenchObserver? observer = null,
        HttpMessageHandler? handler = null, CancellationToken ct = default)
    {
        options.Validate();
        var started = DateTimeOffset.UtcNow;
        var workload = PrepareWorkload(options);
        var requests = workload.Requests;
        string model = options.Model ?? await OpenAiStreamingClient.FirstModelAsync(options.BaseUrl, options.ApiKey, handler, ct).ConfigureAwait(false);
        using var client = new OpenAiStreamingClient(new ClientOptions
        {
            BaseUrl = options.BaseUrl,
            Endpoint = options.Endpoint,
            Model = model,
            Timeout = options.Timeout,
            RequestTimeline = options.RequestTimeline,
            IgnoreEos = options.IgnoreEos,
            ApiKey = options.ApiKey,
        }, handler);

        // Warm-up prompts are never measured ones: a server with a prompt cache would answer the first measured request from it.
        for (int i = 0; i < options.WarmupRequests; i++)
        {
            var warm = await client.SendAsync(workload.Prompts.Warmup(i), new BenchClock(), 0, ct).ConfigureAwait(false);
            if (!warm.Success) throw new BenchmarkFailedException($"warm-up request to {options.BaseUrl} failed: {warm.Error}");
        }

        var runs = new List<RunReport>();
        async Task<RunReport> RunAt(double rate, CancellationToken token)
        {
            // Each run (a sweep's rate, a search's probe) prefills prompts no earlier run sent.
            var runRequests = workload.Prompts.ForRun(runs.Count);
            var (times, arrival) = workload.ArrivalsAt(rate, options, runRequests.Count);
            observer?.RunStarting(rate, requests.Count);
            var progress = observer is null ? null : new SynchronousProgress<RunProgress>(p => observer.Progress(rate, p));
            var result = await BenchmarkRunner.RunAsync(client, runRequests, times, options.MaxConcurrency, progress, token).ConfigureAwait(false);
            var run = ReportBuilder.Run(rate, arrival, result, options.Slo, options.LatencyOrigin, options.Devices);
            runs.Add(run);
            observer?.RunFinished(run);
            return run;
        }

        GoodputReport? goodput = null;
        if (options.Goodput is { } search)
        {
            var found = await GoodputSearch.FindAsync(async (rate, token) => (await RunAt(rate, token).ConfigureAwait(false)).Summary.SloAttainment,
                search, p => observer?.Probed(p, search.Target), ct).ConfigureAwait(false);
            goodput = ReportBuilder.Goodput(found, options.Devices);
        }
        else
        {
            foreach (double rate in workload.Rates(options)) await RunAt(rate, ct).ConfigureAwait(false);
        }

        return new BenchReport
        {
            Config = workload.Config(options, options.Label ?? model, options.BaseUrl.ToString(), model, options.Devices, started),
            Runs = runs,
            Goodput = goodput,
        };
    }

    public static IReadOnlyList<BenchRequest> BuildWorkload(ServeBenchmarkOptions o) => PrepareWorkload(o).Requests;

    /// <summary>
    /// The requests of the first run, the trace they came from when there is one (its arrival times drive the runs), and
    /// the prompts of every run and of the warm-up (<see cref="RunPrompts"/>).
    /// </summary>
    public sealed record PreparedWorkload(IReadOnlyList<BenchRequest> Requests, RequestTrace? Trace, RunPrompts Prompts)
    {
        /// <summary>The trace, when its rows carry arrival times (they then drive every run).</summary>
        public RequestTrace? TimedTrace => Trace is { HasArrivalTimes: true } t ? t : null;

        /// <summary>The rates of a sweep: those given, or a timed trace's own pace (stretched by --time-scale), or all at once.</summary>
        public IReadOnlyList<double> Rates(ServeBenchmarkOptions o) =>
            o.Rates ?? [TimedTrace is { } t ? t.NativeRate / o.TimeScale : double.PositiveInfinity];

        /// <summary>Arrival times of a run at <paramref name="rate"/> and how they were made, in words.</summary>
        public (double[] Times, string Arrival) ArrivalsAt(double rate, ServeBenchmarkOptions o) => ArrivalsAt(rate, o, Requests.Count);

        /// <summary>The same for a run of <paramref name="count"/> requests (a multi-turn run's count depends on its draw).</summary>
        public (double[] Times, string Arrival) ArrivalsAt(double rate, ServeBenchmarkOptions o, int count)
        {
            if (TimedTrace is { } trace)
                return (trace.ArrivalTimesAt(rate), double.IsPositiveInfinity(rate) ? "all at once (trace)"
                    : string.Create(CultureInfo.InvariantCulture, $"trace {rate:G4}/s (its times x{trace.NativeRate / rate:G4})"));
            var arrivals = new ArrivalProcess(rate, o.ArrivalCv);
            return (arrivals.ArrivalTimes(count, o.Seed), arrivals.Describe());
        }

        /// <summary>The report's settings for this workload run under <paramref name="o"/> against <paramref name="baseUrl"/>.</summary>
        public BenchConfig Config(ServeBenchmarkOptions o, string label, string baseUrl, string model, int devices, DateTimeOffset started) => new()
        {
            Label = label,
            BaseUrl = baseUrl,
            Endpoint = o.Endpoint.Path(),
            Model = model,
            Workload = Trace is not null ? "trace" : o.Dataset is not null ? "dataset" : o.Workload,
            Dataset = o.Trace ?? o.Dataset,
            Tokenizer = o.Tokenizer,
            TraceRate = TimedTrace?.NativeRate,
            NumPrompts = Requests.Count,
            InputLenMean = Requests.Average(r => (double)r.PromptTokens),
            OutputLenMean = Requests.Average(r => (double)r.OutputTokens),
            MaxModelLen = o.MaxModelLength,
            PromptFormat = o.PromptFormat == PromptFormat.TokenIds ? "token_ids" : "text",
            ArrivalCv = o.ArrivalCv,
            Seed = o.Seed,
            MaxConcurrency = o.MaxConcurrency,
            TimeoutSeconds = o.Timeout.TotalSeconds,
            SloTtftSeconds = o.Slo.TtftSeconds,
            SloTpotSeconds = o.Slo.TpotSeconds,
            Devices = devices,
            LatencyOrigin = o.LatencyOrigin.ToString().ToLowerInvariant(),
            StartedUtc = started,
        };
    }

    public static PreparedWorkload PrepareWorkload(ServeBenchmarkOptions o)
    {
        var exact = o.Tokenizer is { } tokenizerPath ? LoadTokenizer(tokenizerPath) : null;
        RunPrompts Prompts(IReadOnlyList<BenchRequest> requests, bool redraw = true) =>
            new(requests, o.Seed, o.PromptFormat, o.TokenIdMin, o.TokenIdMax, exact, redraw);
        string? tracePath = o.Trace ?? (o.Dataset is { } d && TraceWorkload.IsTrace(d) ? d : null);
        if (tracePath is not null)
        {
            var trace = TraceWorkload.Read(tracePath).Take(o.NumPrompts);
            var traced = TraceWorkload.Requests(trace, o.NumPrompts, o.Seed, o.MaxModelLength, o.OutputLength, o.PromptFormat, o.TokenIdMin, o.TokenIdMax, exact);
            return new PreparedWorkload(traced, trace, Prompts(traced));
        }
        if (o.Dataset is { } path)
        {
            if (o.PromptFormat == PromptFormat.TokenIds)
                throw new ArgumentException("--token-ids works with synthetic workloads and traces only (a dataset's prompts are text)");
            var loaded = DatasetWorkload.Load(path, o.NumPrompts, o.Seed, o.MaxModelLength, o.OutputLength, exact is null ? null : exact.Count);
            return new PreparedWorkload(loaded, null, Prompts(loaded, redraw: false));
        }
        if (string.Equals(o.Workload, MultiTurnWorkload.Name, StringComparison.OrdinalIgnoreCase))
        {
            var chat = MultiTurnWorkload.FromOptions(o.Turns, o.SystemLength, o.InputLength, o.OutputLength, o.InputCv, o.OutputCv, o.ThinkTime, o.MaxModelLength);
            int conversations = chat.ConversationsFor(o.NumPrompts);
            IReadOnlyList<BenchRequest> Draw(int seed) => chat.Generate(conversations, seed, o.PromptFormat, o.TokenIdMin, o.TokenIdMax, exact);
            var first = Draw(o.Seed);
            return new PreparedWorkload(first, null, new RunPrompts(first, o.Seed, Draw));
        }
        var generated = WorkloadGenerator.Generate(WorkloadSpec.Preset(o.Workload, o.InputLength, o.OutputLength, o.InputCv, o.OutputCv, o.MaxModelLength),
            o.NumPrompts, o.Seed, o.PromptFormat, o.TokenIdMin, o.TokenIdMax, exact);
        return new PreparedWorkload(generated, null, Prompts(generated));
    }

    private static ExactTextPromptBuilder LoadTokenizer(string path)
    {
        try
        {
            return ExactTextPromptBuilder.FromGguf(path);
        }
        catch (Exception e) when (e is not ArgumentException)
        {
            throw new ArgumentException($"--tokenizer {path}: {e.Message}", e);
        }
    }

    /// <summary>Calls back on the reporting thread (Progress&lt;T&gt; would post to a captured context that a console app lacks).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
