using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tandem.Benchmark;
using Tandem.Benchmark.Client;
using Tandem.Benchmark.Goodput;
using Tandem.Benchmark.Metrics;
using Tandem.Benchmark.Plots;
using Tandem.Benchmark.Reports;
using Tandem.Benchmark.Workloads;

namespace Tandem.Cli.Commands;

/// <summary>
/// The <c>tandem bench</c> group: <c>serve</c> measures SLO attainment and goodput of any OpenAI-compatible server
/// (like <c>vllm bench serve</c>); <c>plot</c> draws saved reports side by side.
/// </summary>
public static class BenchCommands
{
    public static Command Create(CliConsole console)
    {
        var bench = new Command("bench", "Benchmark an OpenAI-compatible server: SLO attainment, goodput, plots.");
        bench.Add(CreateServe(console));
        bench.Add(CreatePlot(console));
        return bench;
    }

    private static Command CreateServe(CliConsole console)
    {
        var baseUrl = new Option<string>("--base-url", "--url") { Description = "Server root URL", DefaultValueFactory = _ => "http://127.0.0.1:8000" };
        var endpoint = new Option<string>("--endpoint") { Description = "/v1/completions or /v1/chat/completions", DefaultValueFactory = _ => "/v1/completions" };
        var model = new Option<string?>("--model") { Description = "Model name (default: the first from /v1/models)" };
        var apiKey = new Option<string?>("--api-key") { Description = "Bearer token, if the server wants one" };
        var label = new Option<string?>("--label") { Description = "Name of this system in tables and plots (default: the model)" };
        var shared = new WorkloadOptions();
        var workload = shared.Workload;
        var dataset = new Option<string?>("--dataset") { Description = "JSONL of {prompt, output_len}, ShareGPT JSON, or a trace of {input_len, output_len, arrival_time} rows (replaces --workload)" };
        var trace = shared.Trace;
        var timeScale = new Option<double?>("--time-scale") { Description = "Multiply a timed trace's arrival times (2 = half as fast); without it and without --rate the trace replays as is" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "GGUF file (model or vocabulary) whose tokenizer makes text prompts of exact token lengths" };
        var numPrompts = shared.NumPrompts;
        var inputLen = shared.InputLen;
        var outputLen = shared.OutputLen;
        var inputCv = shared.InputCv;
        var outputCv = shared.OutputCv;
        var maxModelLen = shared.MaxModelLen;
        var tokenIds = shared.TokenIds;
        var tokenIdMin = new Option<int>("--token-id-min") { Description = "Lowest token id --token-ids draws", DefaultValueFactory = _ => PromptBuilder.DefaultTokenIdMin };
        var tokenIdMax = new Option<int>("--token-id-max") { Description = "Token ids drawn are below this (keep it within the model's vocabulary)", DefaultValueFactory = _ => PromptBuilder.DefaultTokenIdMax };
        var rate = shared.Rate;
        var rates = shared.Rates;
        var cv = shared.Cv;
        var burstiness = new Option<double?>("--burstiness") { Description = "vLLM's gamma shape k (CV = 1/sqrt(k)); alternative to --cv" };
        var seed = shared.Seed;
        var maxConcurrency = new Option<int?>("--max-concurrency") { Description = "Most requests in flight at once (more wait in the client)" };
        var timeout = new Option<double>("--timeout") { Description = "Per-request limit in seconds; past it a request fails", DefaultValueFactory = _ => 600 };
        var sloTtft = shared.SloTtft;
        var sloTpot = shared.SloTpot;
        var measureFrom = new Option<string>("--measure-from") { Description = "TTFT/E2E origin: 'arrival' (scheduled arrival; client queueing counts) or 'send'", DefaultValueFactory = _ => "arrival" };
        var goodput = shared.Goodput;
        var attainment = shared.Attainment;
        var precision = shared.Precision;
        var maxRate = shared.MaxRate;
        var devices = new Option<int>("--per-core", "--devices") { Description = "Cores/devices the server uses: rates and goodput are also reported divided by it", DefaultValueFactory = _ => 1 };
        var warmup = new Option<int>("--warmup") { Description = "Unrecorded requests sent first, one at a time, with prompts no run sends (a failure stops the benchmark)", DefaultValueFactory = _ => 1 };
        var noTimeline = new Option<bool>("--no-timeline") { Description = "Do not ask for tandem_timeline (for servers that refuse unknown fields)" };
        var noIgnoreEos = new Option<bool>("--no-ignore-eos") { Description = "Do not send ignore_eos (answers may end early)" };
        var outJson = shared.OutJson;
        var csv = new Option<string?>("--csv") { Description = "Write one CSV row per request (and FILE.runs.csv, one row per run)" };
        var plots = new Option<string?>("--plots") { Description = "Write PNG figures into this directory" };
        var turns = shared.Turns;
        var systemLen = shared.SystemLen;
        var thinkTime = shared.ThinkTime;

        var command = new Command("serve", "Measure latency, SLO attainment and goodput of an OpenAI-compatible server.")
        {
            baseUrl, endpoint, model, apiKey, label, workload, dataset, trace, timeScale, tokenizer, numPrompts, inputLen, outputLen, inputCv, outputCv, maxModelLen,
            tokenIds, tokenIdMin, tokenIdMax, rate, rates, cv, burstiness, seed, maxConcurrency, timeout, sloTtft, sloTpot, measureFrom, goodput, attainment,
            precision, maxRate, devices, warmup, noTimeline, noIgnoreEos, outJson, csv, plots, turns, systemLen, thinkTime,
        };
        command.SetAction(async (parse, ct) =>
        {
            if (parse.GetValue(cv) is not null && parse.GetValue(burstiness) is not null) throw new CliUsageException("give --cv or --burstiness, not both");
            if (!Uri.TryCreate(parse.GetValue(baseUrl), UriKind.Absolute, out var url) || (url.Scheme != "http" && url.Scheme != "https"))
                throw new CliUsageException($"--base-url must be an http(s) URL, got '{parse.GetValue(baseUrl)}'");
            double arrivalCv = parse.GetValue(burstiness) is double b ? CvFromBurstiness(b) : parse.GetValue(cv) ?? 1.0;
            var origin = parse.GetValue(measureFrom)!.ToLowerInvariant() switch
            {
                "arrival" => LatencyOrigin.Arrival,
                "send" => LatencyOrigin.Send,
                var other => throw new CliUsageException($"--measure-from must be 'arrival' or 'send', got '{other}'"),
            };
            bool isTrace = parse.GetValue(trace) is not null || (parse.GetValue(dataset) is { } ds && TraceWorkload.IsTrace(ds));

            // No rate: all at once, or a timed trace at its own pace (decided once the trace is read).
            var options = shared.Apply(parse, new ServeBenchmarkOptions
            {
                BaseUrl = url,
                Endpoint = Parse(() => ApiEndpoints.Parse(parse.GetValue(endpoint)!)),
                Model = parse.GetValue(model),
                ApiKey = parse.GetValue(apiKey),
                Label = parse.GetValue(label),
                Dataset = parse.GetValue(dataset),
                TimeScale = parse.GetValue(timeScale) ?? 1.0,
                Tokenizer = parse.GetValue(tokenizer),
                TokenIdMin = parse.GetValue(tokenIdMin),
                TokenIdMax = parse.GetValue(tokenIdMax),
                MaxConcurrency = parse.GetValue(maxConcurrency),
                Timeout = parse.GetValue(timeout) is var t && t > 0 && double.IsFinite(t) ? TimeSpan.FromSeconds(t) : throw new CliUsageException($"--timeout must be positive seconds, got {t}"),
                LatencyOrigin = origin,
                Devices = parse.GetValue(devices),
                RequestTimeline = !parse.GetValue(noTimeline),
                WarmupRequests = parse.GetValue(warmup),
                IgnoreEos = !parse.GetValue(noIgnoreEos),
            }, isTrace, arrivalCv);
            Parse(options.Validate);
            // Refuse bad workload options before any request is sent.
            Parse(() => ServeBenchmark.BuildWorkload(options with { NumPrompts = 1 }));

            // Hundreds of concurrent streams must not wait for the pool to grow (it adds a thread per half second when
            // short): the client's own delays would show up as server latency.
            ThreadPool.GetMinThreads(out int workers, out int io);
            ThreadPool.SetMinThreads(Math.Max(workers, 64), Math.Max(io, 64));

            var ansi = console.CreateAnsiConsole(out bool interactive);
            BenchReport report;
            try
            {
                report = interactive
                    ? await ansi.Progress().AutoClear(false)
                        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
                        .StartAsync(ctx => ServeBenchmark.RunAsync(options, new LiveObserver(ctx), ct: ct))
                    : await ServeBenchmark.RunAsync(options, new PlainObserver(console.Error), ct: ct);
            }
            catch (Exception e) when (e is BenchmarkFailedException or HttpRequestException)
            {
                throw new CliUsageException(e.Message);
            }

            foreach (var run in report.Runs) ConsoleReport.WriteRun(ansi, run, report.Config.Label);
            if (report.Runs.Count > 1) ConsoleReport.WriteSweep(ansi, report.Runs, report.Config.Label, options.Devices);
            if (report.Goodput is { } g) ConsoleReport.WriteGoodput(ansi, g, options.Devices);

            if (parse.GetValue(outJson) is { } jsonPath)
            {
                BenchReportJson.Write(jsonPath, report);
                console.Error.WriteLine($"report: {jsonPath}");
            }
            if (parse.GetValue(csv) is { } csvPath)
            {
                CsvReport.WriteRequests(csvPath, report);
                string runsPath = Path.ChangeExtension(csvPath, null) + ".runs.csv";
                CsvReport.WriteRuns(runsPath, report);
                console.Error.WriteLine($"csv: {csvPath}, {runsPath}");
            }
            if (parse.GetValue(plots) is { } dir)
                foreach (string file in ReportPlots.Write([report], PlotRequest.InDirectory(dir)))
                    console.Error.WriteLine($"plot: {file}");
            console.Out.Flush();
            return 0;
        });
        return command;
    }

    private static Command CreatePlot(CliConsole console)
    {
        var files = new Argument<string[]>("reports") { Description = "Report files written by 'bench serve --out' or 'simulate --out' (one per system; plain or gzipped JSON)", Arity = ArgumentArity.OneOrMore };
        var outDir = new Option<string?>("--out-dir", "-o") { Description = "Directory for the PNGs (default: the first report's directory)" };
        var attainmentPng = new Option<string?>("--attainment") { Description = "Attainment-vs-rate PNG path (default: OUT-DIR/attainment.png)" };
        var cdfPng = new Option<string?>("--cdf") { Description = "TTFT/TPOT CDF PNG path (default: OUT-DIR/latency-cdf.png)" };
        var scalePng = new Option<string?>("--slo-scale") { Description = "Attainment-vs-SLO-scale PNG path (default: OUT-DIR/slo-scale.png)" };
        var rate = new Option<double?>("--rate") { Description = "For the CDF and SLO-scale figures: each report's run closest to this rate" };
        var target = new Option<double?>("--attainment-target") { Description = "Target line (default: the search's, else 0.9)" };
        var command = new Command("plot", "Draw saved reports side by side: attainment vs rate, latency CDFs, attainment vs SLO scale.")
        {
            files, outDir, attainmentPng, cdfPng, scalePng, rate, target,
        };
        command.SetAction((parse, _) =>
        {
            var paths = parse.GetValue(files)!;
            var reports = paths.Select(BenchReportJson.Read).ToList();
            string dir = parse.GetValue(outDir) ?? Path.GetDirectoryName(Path.GetFullPath(paths[0]))!;
            var defaults = PlotRequest.InDirectory(dir);
            var request = new PlotRequest
            {
                AttainmentPath = parse.GetValue(attainmentPng) ?? defaults.AttainmentPath,
                LatencyCdfPath = parse.GetValue(cdfPng) ?? defaults.LatencyCdfPath,
                SloScalePath = parse.GetValue(scalePng) ?? defaults.SloScalePath,
                Rate = parse.GetValue(rate),
                Target = parse.GetValue(target),
            };
            var written = ReportPlots.Write(reports, request);
            foreach (string file in written) console.Out.WriteLine(file);
            if (written.Count == 0) console.Error.WriteLine("nothing to plot: the reports hold no finished requests at finite rates");
            return Task.FromResult(0);
        });
        return command;
    }

    private static double CvFromBurstiness(double burstiness) => Parse(() => Benchmark.Arrivals.ArrivalProcess.CvFromBurstiness(burstiness));

    /// <summary>--rate / --rates / --goodput together: the rates to run (null: none given) and whether to search.</summary>
    internal static (List<double>? Rates, bool Search) ParseRateOptions(string? rate, string? rates, bool goodput)
    {
        if (rate is not null && rates is not null) throw new CliUsageException("give --rate or --rates, not both");
        string? text = rates ?? rate;
        var list = text is null ? null : ParseRates(text);
        if (goodput && list is { Count: > 1 }) throw new CliUsageException("--goodput searches rates itself: give at most one --rate to start from");
        return (list, goodput);
    }

    /// <summary>--slo-ttft / --slo-tpot in seconds; an SLO not given is no target (infinity).</summary>
    internal static SloSpec ParseSlo(double? ttft, double? tpot)
    {
        double t1 = ttft ?? double.PositiveInfinity, t2 = tpot ?? double.PositiveInfinity;
        if (!(t1 > 0) || !(t2 > 0)) throw new CliUsageException("--slo-ttft and --slo-tpot must be positive seconds");
        return new SloSpec(t1, t2);
    }

    /// <summary>The goodput search of --goodput: it starts at the one --rate given (else 1 req/s), within --max-rate.</summary>
    internal static GoodputSearchOptions SearchOptions(List<double>? rates, double target, double precision, double maxRate)
    {
        double first = rates is not null && double.IsFinite(rates[0]) ? rates[0] : 1.0;
        return new GoodputSearchOptions
        {
            Target = target,
            Precision = precision,
            InitialRate = Math.Min(first, maxRate),
            MinRate = Math.Min(Math.Min(first, maxRate), Math.Max(precision / 4, 1e-3)),
            MaxRate = maxRate,
        };
    }

    internal static List<double> ParseRates(string text)
    {
        var list = new List<double>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part.Equals("inf", StringComparison.OrdinalIgnoreCase) || part.Equals("infinity", StringComparison.OrdinalIgnoreCase))
                list.Add(double.PositiveInfinity);
            else if (double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double r) && r > 0 && double.IsFinite(r))
                list.Add(r);
            else throw new CliUsageException($"a rate must be a positive number or 'inf', got '{part}'");
        }
        if (list.Count == 0) throw new CliUsageException("no rate given");
        return list;
    }

    internal static T Parse<T>(Func<T> f)
    {
        try { return f(); }
        catch (ArgumentException e) { throw new CliUsageException(e.Message); }
    }

    internal static void Parse(Action f) => Parse(() => { f(); return 0; });

    /// <summary>Progress bars, one per run (a sweep's rate or a search's probe).</summary>
    private sealed class LiveObserver(ProgressContext ctx) : IBenchObserver
    {
        private readonly Dictionary<double, ProgressTask> _tasks = [];
        private ProgressTask? _current;

        public void RunStarting(double rate, int requests)
        {
            _current = ctx.AddTask($"rate {ConsoleReport.Rate(rate)} req/s", maxValue: requests);
            lock (_tasks) _tasks[rate] = _current;
        }

        public void Progress(double rate, RunProgress p)
        {
            var task = _current;
            if (task is null) return;
            task.Value = p.Finished;
            task.Description = $"rate {ConsoleReport.Rate(rate)} req/s" + (p.Failed > 0 ? $" [red]({p.Failed} failed)[/]" : "");
        }

        public void RunFinished(RunReport run) => _current?.StopTask();

        public void Probed(GoodputProbe probe, double target)
        {
            lock (_tasks)
                if (_tasks.TryGetValue(probe.Rate, out var task))
                    task.Description = Markup.Escape(ConsoleReport.ProbeLine(probe, target));
        }
    }

    /// <summary>A line when a run starts, at each tenth of it, and when it ends; one per probe.</summary>
    private sealed class PlainObserver(TextWriter log) : IBenchObserver
    {
        private int _lastTenth;

        public void RunStarting(double rate, int requests)
        {
            _lastTenth = 0;
            lock (log) log.WriteLine($"run: rate {ConsoleReport.Rate(rate)} req/s, {requests} requests");
        }

        public void Progress(double rate, RunProgress p)
        {
            int tenth = p.Total == 0 ? 10 : p.Finished * 10 / p.Total;
            if (tenth <= Volatile.Read(ref _lastTenth) || Interlocked.Exchange(ref _lastTenth, tenth) >= tenth) return;
            lock (log) log.WriteLine($"  {p.Finished}/{p.Total} done, {p.Failed} failed");
        }

        public void RunFinished(RunReport run)
        {
            lock (log)
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  finished in {run.Summary.DurationSeconds:0.00} s: {run.Summary.Completed}/{run.Summary.Total} ok, attainment {run.Summary.SloAttainment * 100:0.0}%"));
        }

        public void Probed(GoodputProbe probe, double target)
        {
            lock (log) log.WriteLine(ConsoleReport.ProbeLine(probe, target));
        }
    }
}
