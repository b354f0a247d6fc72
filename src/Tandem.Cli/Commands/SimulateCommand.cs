using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Tandem.Benchmark;
using Tandem.Benchmark.Reports;
using Tandem.Benchmark.Workloads;
using Tandem.Planning.Profiles;
using Tandem.Planning.Simulation;
using Tandem.Serving;

namespace Tandem.Cli.Commands;

/// <summary>
/// <c>tandem simulate</c>: what <c>tandem bench serve</c> would measure against <c>tandem serve</c> with a given
/// placement, computed by the simulator from a latency profile; the report is the bench's JSON, so
/// <c>tandem bench plot</c> draws simulated and measured reports together.
/// </summary>
public static class SimulateCommand
{
    public static Command Create(CliConsole console)
    {
        var profile = new Option<string>("--profile", "-p") { Description = "Latency profile: from 'tandem profile', or DistServe's profiler-*.json", Required = true };
        var modelName = new Option<string?>("--model-name") { Description = "Model to take from a profile file holding several (e.g. opt-13b)" };
        var mode = new Option<string>("--mode") { Description = "disaggregated (DistServe), colocated (vLLM-style) or chunked (Sarathi-Serve)", DefaultValueFactory = _ => "disaggregated" };
        mode.AcceptOnlyFromAmong("disaggregated", "colocated", "chunked");
        var prefill = new Option<int>("--prefill-instances") { Description = "Prefill instances (disaggregated)", DefaultValueFactory = _ => 1 };
        var decode = new Option<int>("--decode-instances") { Description = "Decode instances (disaggregated)", DefaultValueFactory = _ => 1 };
        var instances = new Option<int>("--instances") { Description = "Instances (colocated, chunked)", DefaultValueFactory = _ => 1 };
        var coresPer = new Option<int?>("--cores-per-instance") { Description = "Cores per instance, every role (the profile's core count; same as --tp/--prefill-tp/--decode-tp)" };
        var prefillTp = new Option<int?>("--prefill-tp") { Description = "Intra-op degree of a prefill instance: cores, or tensor-parallel GPUs (default 1)" };
        var prefillPp = new Option<int>("--prefill-pp") { Description = "Pipeline stages of a prefill instance", DefaultValueFactory = _ => 1 };
        var decodeTp = new Option<int?>("--decode-tp") { Description = "Intra-op degree of a decode instance (default 1)" };
        var decodePp = new Option<int>("--decode-pp") { Description = "Pipeline stages of a decode instance", DefaultValueFactory = _ => 1 };
        var tp = new Option<int?>("--tp") { Description = "Intra-op degree of a colocated instance (default 1)" };
        var pp = new Option<int>("--pp") { Description = "Pipeline stages of a colocated instance", DefaultValueFactory = _ => 1 };
        var kvMemory = new Option<string>("--kv-memory") { Description = "KV cache memory per instance (per pipeline stage) when the profile gives no capacity, e.g. 256MiB", DefaultValueFactory = _ => "256MiB" };
        var kvBlocks = new Option<int?>("--kv-blocks") { Description = "KV blocks per instance (overrides --kv-memory and the profile's capacity)" };
        var prefillTarget = new Option<int>("--prefill-token-target") { Description = "Prompt tokens a prefill step batches (DistServe's L_m)", DefaultValueFactory = _ => new ServingOptions().PrefillTokenTarget };
        var chunkBudget = new Option<int>("--chunk-budget") { Description = "Tokens per step in chunked mode", DefaultValueFactory = _ => new ServingOptions().ChunkBudget };
        var maxNumSeqs = new Option<int>("--max-num-seqs") { Description = "Most requests decoding at once per instance", DefaultValueFactory = _ => new ServingOptions().MaxNumSeqs };
        var noPrefixCaching = new Option<bool>("--no-prefix-caching")
        {
            Description = "Simulate without automatic prefix caching (on by default, as in 'tandem serve': a prompt whose leading blocks an instance computed before computes only the rest; needs --token-ids to find shared prefixes)",
        };
        // As 'tandem serve' runs it: the simulator's decode instances take the prompts the server's would.
        var localPrefillArguments = new LocalPrefillArguments();
        var localPrefill = localPrefillArguments.Threshold;
        var prefillBusy = localPrefillArguments.BusyTokens;
        var bandwidth = new Option<string>("--link-bandwidth") { Description = "Link the KV cache moves over: e.g. 25Gbit, 600GB (per second), or inf (in process)", DefaultValueFactory = _ => "inf" };

        var shared = new WorkloadOptions();
        var label = new Option<string?>("--label") { Description = "Name of this system in tables and plots (default: the placement)" };

        var command = new Command("simulate", "Simulate serving a workload with a placement on a virtual clock (the server's own schedulers, step times from a profile) and report it as 'bench serve' would.")
        {
            profile, modelName, mode, prefill, decode, instances, coresPer, prefillTp, prefillPp, decodeTp, decodePp, tp, pp, kvMemory, kvBlocks, prefillTarget,
            chunkBudget, maxNumSeqs, noPrefixCaching, localPrefill, prefillBusy, bandwidth, label,
        };
        foreach (var option in shared.All) command.Add(option);
        command.SetAction(parse =>
        {
            var latency = BenchCommands.Parse(() => LatencyProfileJson.Read(parse.GetValue(profile)!, parse.GetValue(modelName)));
            int? cores = parse.GetValue(coresPer);
            var placement = new Placement
            {
                Mode = parse.GetValue(mode) switch { "colocated" => ServingMode.Colocated, "chunked" => ServingMode.Chunked, _ => ServingMode.Disaggregated },
                PrefillInstances = parse.GetValue(prefill),
                DecodeInstances = parse.GetValue(decode),
                ColocatedInstances = parse.GetValue(instances),
                PrefillParallel = new ParallelConfig(parse.GetValue(prefillTp) ?? cores ?? 1, parse.GetValue(prefillPp)),
                DecodeParallel = new ParallelConfig(parse.GetValue(decodeTp) ?? cores ?? 1, parse.GetValue(decodePp)),
                ColocatedParallel = new ParallelConfig(parse.GetValue(tp) ?? cores ?? 1, parse.GetValue(pp)),
                KvBytesPerInstance = ServeCommand.ParseBytes(parse.GetValue(kvMemory)!, "--kv-memory"),
                KvBlocksPerInstance = parse.GetValue(kvBlocks),
                PrefillTokenTarget = parse.GetValue(prefillTarget),
                ChunkBudget = parse.GetValue(chunkBudget),
                MaxNumSeqs = parse.GetValue(maxNumSeqs),
                LinkBytesPerSecond = ParseBandwidth(parse.GetValue(bandwidth)!),
                PrefixCaching = !parse.GetValue(noPrefixCaching),
                LocalPrefillThreshold = parse.GetValue(localPrefill),
                PrefillBusyTokens = parse.GetValue(prefillBusy),
            };
            BenchCommands.Parse(placement.Validate);
            var options = shared.Apply(parse, new ServeBenchmarkOptions { BaseUrl = new Uri("http://simulated"), Devices = placement.Devices },
                isTrace: parse.GetValue(shared.Trace) is not null);
            BenchCommands.Parse(options.Validate);

            var clock = Stopwatch.StartNew();
            var report = BenchCommands.Parse(() => ServingSimulator.Bench(placement, latency, options, parse.GetValue(label)));
            double seconds = clock.Elapsed.TotalSeconds;
            var ansi = console.CreateAnsiConsole(out _);
            foreach (var run in report.Runs) ConsoleReport.WriteRun(ansi, run, report.Config.Label);
            if (report.Runs.Count > 1) ConsoleReport.WriteSweep(ansi, report.Runs, report.Config.Label, placement.Devices);
            if (report.Goodput is { } g) ConsoleReport.WriteGoodput(ansi, g, placement.Devices);
            console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"simulated {report.Runs.Sum(r => r.Summary.Total)} requests in {report.Runs.Count} run(s) of {placement} ({placement.Devices} device(s)) in {seconds:F2} s"));
            if (parse.GetValue(shared.OutJson) is { } path)
            {
                BenchReportJson.Write(path, report);
                console.Error.WriteLine($"report: {path}");
            }
            console.Out.Flush();
            return 0;
        });
        return command;
    }

    /// <summary>"inf", or a rate with a unit: 25Gbit / 25Gbps (bits), 600GB / 600GB/s (bytes), or plain bytes per second.</summary>
    internal static double ParseBandwidth(string text)
    {
        string s = text.Trim().Replace("/s", "", StringComparison.OrdinalIgnoreCase);
        if (s.Equals("inf", StringComparison.OrdinalIgnoreCase)) return double.PositiveInfinity;
        int end = s.Length;
        while (end > 0 && char.IsLetter(s[end - 1])) end--;
        double scale = s[end..].ToLowerInvariant() switch
        {
            "" or "b" => 1,
            "kb" => 1e3, "mb" => 1e6, "gb" => 1e9, "tb" => 1e12,
            "kbit" or "kbps" => 1e3 / 8, "mbit" or "mbps" => 1e6 / 8, "gbit" or "gbps" => 1e9 / 8, "tbit" or "tbps" => 1e12 / 8,
            _ => 0,
        };
        if (scale == 0 || !double.TryParse(s[..end], NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !(v > 0) || double.IsInfinity(v))
            throw new CliUsageException($"--link-bandwidth must be 'inf' or a rate such as 25Gbit or 600GB, got '{text}'");
        return v * scale;
    }
}
