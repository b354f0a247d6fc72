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
        var timedTrace = workload.Trace is { HasArrivalTimes: true } t ? t : null;
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
            double[] times;
            string arrival;
            if (timedTrace is not null)
            {
                times = timedTrace.ArrivalTimesAt(rate);
                arrival = double.IsPositiveInfinity(rate) ? "all at once (trace)"
                    : string.Create(CultureInfo.InvariantCulture, $"trace {rate:G4}/s (its times x{timedTrace.NativeRate / rate:G4})");
            }
            else
            {
                var arrivals = new ArrivalProcess(rate, options.ArrivalCv);
                times = arrivals.ArrivalTimes(requests.Count, options.Seed);
                arrival = arrivals.Describe();
            }
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
            // A timed trace with no rate given replays at its own pace (stretched by --time-scale).
            var rates = options.Rates ?? [timedTrace is null ? double.PositiveInfinity : timedTrace.NativeRate / options.TimeScale];
            foreach (double rate in rates) await RunAt(rate, ct).ConfigureAwait(false);
        }

        return new BenchReport
        {
            Config = new BenchConfig
            {
                Label = options.Label ?? model,
                BaseUrl = options.BaseUrl.ToString(),
                Endpoint = options.Endpoint.Path(),
                Model = model,
                Workload = workload.Trace is not null ? "trace" : options.Dataset is not null ? "dataset" : options.Workload,
                Dataset = options.Trace ?? options.Dataset,
                Tokenizer = options.Tokenizer,
                TraceRate = timedTrace?.NativeRate,
                NumPrompts = requests.Count,
                InputLenMean = requests.Average(r => (double)r.PromptTokens),
                OutputLenMean = requests.Average(r => (double)r.OutputTokens),
                MaxModelLen = options.MaxModelLength,
                PromptFormat = options.PromptFormat == PromptFormat.TokenIds ? "token_ids" : "text",
                ArrivalCv = options.ArrivalCv,
                Seed = options.Seed,
                MaxConcurrency = options.MaxConcurrency,
                TimeoutSeconds = options.Timeout.TotalSeconds,
                SloTtftSeconds = options.Slo.TtftSeconds,
                SloTpotSeconds = options.Slo.TpotSeconds,
                Devices = options.Devices,
                LatencyOrigin = options.LatencyOrigin.ToString().ToLowerInvariant(),
                StartedUtc = started,
            },
            Runs = runs,
            Goodput = goodput,
        };
    }

    public static IReadOnlyList<BenchRequest> BuildWorkload(ServeBenchmarkOptions o) => PrepareWorkload(o).Requests;

    /// <summary>
    /// The requests of the first run, the trace they came from when there is one (its arrival times drive the runs), and
    /// the prompts of every run and of the warm-up (<see cref="RunPrompts"/>).
    /// </summary>
    public sealed record PreparedWorkload(IReadOnlyList<BenchRequest> Requests, RequestTrace? Trace, RunPrompts Prompts);

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
