using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tandem.Benchmark.Metrics;
using Tandem.Benchmark.Workloads;
using Tandem.Planning.Profiles;
using Tandem.Planning.Search;
using Tandem.Planning.Simulation;
using Tandem.Serving;

namespace Tandem.Cli.Commands;

/// <summary>
/// <c>tandem plan</c>: DistServe's placement search over a latency profile: simulates every candidate parallelism
/// (Algorithms 1 and 2, colocated and chunked), prints the chosen placement with its simulated goodput per device and
/// the runners-up, and writes plan.json for <c>tandem serve --plan</c>.
/// </summary>
public static class PlanCommand
{
    public static Command Create(CliConsole console)
    {
        var profile = new Option<string>("--profile") { Description = "Latency profile: from 'tandem profile', or DistServe's profiler-*.json", Required = true };
        var modelName = new Option<string?>("--model-name") { Description = "Model in a profile that holds several (DistServe's: opt-13b, opt-66b, opt-175b)" };
        var workload = new Option<string>("--workload") { Description = $"Length distribution: {string.Join(", ", WorkloadSpec.PresetNames)}, or fixed:IN:OUT (the bench's presets)", DefaultValueFactory = _ => "chatbot" };
        var sloTtft = new Option<double>("--slo-ttft") { Description = "TTFT SLO in seconds", Required = true };
        var sloTpot = new Option<double>("--slo-tpot") { Description = "TPOT SLO in seconds", Required = true };
        var attainment = new Option<double>("--attainment") { Description = "Share of requests that must meet both SLOs", DefaultValueFactory = _ => 0.9 };
        var nodes = new Option<int>("--nodes") { Description = "Nodes in the cluster", DefaultValueFactory = _ => 1 };
        var devicesPerNode = new Option<int>("--devices-per-node") { Description = "GPUs per node, or CPU cores of this machine", Required = true };
        var intra = new Option<double>("--intra-bandwidth") { Description = "KV link inside a node, GB/s (NVLink: 600)", DefaultValueFactory = _ => ClusterSpec.DefaultIntraNodeBandwidth / 1e9 };
        var inter = new Option<double>("--inter-bandwidth") { Description = "KV link between nodes, GB/s (25 Gbit/s = 3.125)", DefaultValueFactory = _ => ClusterSpec.DefaultInterNodeBandwidth / 1e9 };
        var rate = new Option<double?>("--rate") { Description = "Request rate to serve (req/s): the placement reaching it with the fewest devices wins (default: the most goodput the cluster gives)" };
        var outPath = new Option<string?>("--out", "-o") { Description = "Write the plan as JSON (for 'tandem serve --plan')" };
        var requests = new Option<int>("--requests") { Description = "Simulated requests per probed rate (DistServe: 300)", DefaultValueFactory = _ => SimulatorEvaluator.DefaultRequestsPerProbe };
        var seed = new Option<int>("--seed") { Description = "Seed of the simulated workload and arrivals", DefaultValueFactory = _ => 0 };
        var precision = new Option<double>("--precision") { Description = "Goodput precision in req/s (DistServe: 0.25)", DefaultValueFactory = _ => 0.25 };
        var prefillTarget = new Option<int>("--prefill-token-target") { Description = "Prompt tokens per prefill step (L_m), as serve", DefaultValueFactory = _ => new ServingOptions().PrefillTokenTarget };
        var chunkBudget = new Option<int>("--chunk-budget") { Description = "Tokens per chunked step, as serve", DefaultValueFactory = _ => new ServingOptions().ChunkBudget };
        var kvMemory = new Option<string>("--kv-memory") { Description = "KV memory per instance for a CPU profile, as serve (GPU profiles carry their own capacities)", DefaultValueFactory = _ => "256MiB" };
        var top = new Option<int>("--top") { Description = "Runners-up to print and keep in plan.json", DefaultValueFactory = _ => 10 };
        var candidates = new Option<string>("--candidates") { Description = "Which placements compete: comma-separated high (Algorithm 1), low (Algorithm 2), colocated, chunked", DefaultValueFactory = _ => "high,low,colocated,chunked" };
        var check = new Option<int>("--check") { Description = "Placements (from the top) whose goodput is also simulated whole, every instance at once", DefaultValueFactory = _ => 3 };

        var command = new Command("plan", "Choose the placement (disaggregated or not, parallelism, instance counts) that maximises goodput per device, by simulation.")
        {
            profile, modelName, workload, sloTtft, sloTpot, attainment, nodes, devicesPerNode, intra, inter, rate, outPath, requests, seed, precision,
            prefillTarget, chunkBudget, kvMemory, top, check, candidates,
        };
        command.SetAction(parse =>
        {
            var latency = Usage(() => LatencyProfileJson.Read(parse.GetValue(profile)!, parse.GetValue(modelName)));
            string workloadName = parse.GetValue(workload)!;
            var spec = Usage(() => WorkloadSpec.Preset(workloadName));
            var cluster = Usage(() => new ClusterSpec(parse.GetValue(nodes), parse.GetValue(devicesPerNode), parse.GetValue(intra) * 1e9, parse.GetValue(inter) * 1e9));
            var kinds = parse.GetValue(candidates)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(k => k.ToLowerInvariant()).ToHashSet();
            if (kinds.Except(["high", "low", "colocated", "chunked"]).FirstOrDefault() is { } unknown)
                throw new CliUsageException($"--candidates: unknown '{unknown}' (high, low, colocated, chunked)");
            var options = new PlannerOptions
            {
                HighAffinity = kinds.Contains("high"),
                LowAffinity = kinds.Contains("low"),
                Colocated = kinds.Contains("colocated"),
                Chunked = kinds.Contains("chunked"),
                Slo = Usage(() => new SloSpec(parse.GetValue(sloTtft), parse.GetValue(sloTpot))),
                AttainmentTarget = parse.GetValue(attainment),
                TargetRate = parse.GetValue(rate),
                Precision = parse.GetValue(precision),
            };
            Usage(options.Validate);
            int keep = parse.GetValue(top), checks = parse.GetValue(check);
            if (keep < 0 || checks < 0) throw new CliUsageException("--top and --check must be 0 or more");
            var template = Usage(() =>
            {
                var t = new Placement { PrefillTokenTarget = parse.GetValue(prefillTarget), ChunkBudget = parse.GetValue(chunkBudget), KvBytesPerInstance = ServeCommand.ParseBytes(parse.GetValue(kvMemory)!, "--kv-memory") };
                t.Validate();
                return t;
            });
            var evaluator = Usage(() => new SimulatorEvaluator(latency, spec, cluster, template, parse.GetValue(requests), parse.GetValue(seed)));

            var ansi = console.CreateAnsiConsole(out bool interactive);
            console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"planning {latency.Model} ({evaluator.DeviceKind}: {cluster.Nodes} node(s) × {cluster.DevicesPerNode} {Devices(evaluator)}) for {workloadName}, SLO TTFT {options.Slo.TtftSeconds:0.###} s / TPOT {options.Slo.TpotSeconds:0.###} s at {options.AttainmentTarget:P0}{(options.TargetRate is { } r ? $", {r:0.##} req/s" : "")}"));
            PlacementPlan plan;
            if (interactive)
                plan = ansi.Progress().AutoClear(true)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("goodput searches");
                        return PlacementPlanner.Plan(evaluator, cluster, options, p => { task.MaxValue = p.UnitsTotal; task.Value = p.UnitsDone; });
                    });
            else
            {
                int lastTenth = 0;
                plan = PlacementPlanner.Plan(evaluator, cluster, options, p =>
                {
                    int tenth = p.UnitsDone * 10 / p.UnitsTotal;
                    if (tenth <= lastTenth) return;
                    lastTenth = tenth;
                    console.Error.WriteLine($"  {p.UnitsDone}/{p.UnitsTotal} goodput searches");
                });
            }

            var shown = plan.Ranked.Take(keep + 1).ToList();
            for (int i = 0; i < Math.Min(checks, shown.Count); i++)
                shown[i] = shown[i] with { SimulatedGoodput = PlacementPlanner.SimulateGoodput(evaluator, shown[i], options) };

            WriteTable(ansi, plan, shown, evaluator);
            WriteVerdict(console.Out, plan);
            console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"planned in {plan.Elapsed.TotalSeconds:0.0} s: {plan.Units.Count} goodput searches, {plan.Units.Sum(u => u.Probes)} simulated runs of {evaluator.RequestsPerProbe} requests"));

            if (parse.GetValue(outPath) is { } path)
            {
                PlanFileJson.Write(path, new PlanFile
                {
                    Model = latency.Model,
                    Profile = Path.GetFullPath(parse.GetValue(profile)!),
                    DeviceKind = evaluator.DeviceKind,
                    Workload = workloadName,
                    SloTtftSeconds = options.Slo.TtftSeconds,
                    SloTpotSeconds = options.Slo.TpotSeconds,
                    Attainment = options.AttainmentTarget,
                    TargetRate = options.TargetRate,
                    Nodes = cluster.Nodes,
                    DevicesPerNode = cluster.DevicesPerNode,
                    IntraNodeBandwidth = cluster.IntraNodeBandwidth,
                    InterNodeBandwidth = cluster.InterNodeBandwidth,
                    PrefillTokenTarget = template.PrefillTokenTarget,
                    ChunkBudget = template.ChunkBudget,
                    KvBytesPerInstance = evaluator.DeviceKind == "cpu" ? template.KvBytesPerInstance : null,
                    RequestsPerProbe = evaluator.RequestsPerProbe,
                    Seed = evaluator.Seed,
                    PlanningSeconds = plan.Elapsed.TotalSeconds,
                    GoodputSearches = plan.Units.Count,
                    Chosen = shown.Count > 0 ? shown[0] : null,
                    RunnersUp = [.. shown.Skip(1)],
                });
                console.Error.WriteLine($"plan: {path}");
            }
            console.Out.Flush();
            return plan.Chosen is null ? 1 : 0;
        });
        return command;
    }

    private static string Devices(SimulatorEvaluator e) => e.DeviceKind == "cpu" ? "cores" : "GPUs";

    private static void WriteTable(IAnsiConsole ansi, PlacementPlan plan, IReadOnlyList<PlannedPlacement> shown, SimulatorEvaluator evaluator)
    {
        var t = new Table { Border = TableBorder.Rounded, Title = new TableTitle("placements, best first") };
        t.AddColumn(new TableColumn("#").RightAligned()).AddColumn("placement").AddColumn(new TableColumn(Devices(evaluator)).RightAligned())
            .AddColumn(new TableColumn("goodput").RightAligned()).AddColumn(new TableColumn("per device").RightAligned())
            .AddColumn(new TableColumn("simulated whole").RightAligned());
        if (plan.Options.TargetRate is not null) t.AddColumn("reaches rate");
        for (int i = 0; i < shown.Count; i++)
        {
            var p = shown[i];
            var row = new List<string>
            {
                (i + 1).ToString(CultureInfo.InvariantCulture), Markup.Escape(p.Describe()), p.Devices.ToString(CultureInfo.InvariantCulture),
                Rate(p.Goodput), Rate(p.GoodputPerDevice), p.SimulatedGoodput is { } w ? $"{Rate(w)} ({Rate(w / p.Devices)}/dev)" : "",
            };
            if (plan.Options.TargetRate is not null) row.Add(p.ReachesTargetRate ? "yes" : "no");
            t.AddRow([.. row]);
        }
        ansi.Write(t);
        ansi.WriteLine();
    }

    /// <summary>Whether disaggregation pays: the chosen placement against the best of the other modes.</summary>
    private static void WriteVerdict(TextWriter output, PlacementPlan plan)
    {
        if (plan.Chosen is not { } chosen)
        {
            output.WriteLine("no placement meets the SLOs at any rate on this cluster: loosen the SLOs or add devices");
            return;
        }
        output.WriteLine($"chosen: {chosen.Describe()}");
        var o = plan.Options;
        foreach (var mode in new[] { ServingMode.Disaggregated, ServingMode.Colocated, ServingMode.Chunked })
        {
            var best = plan.BestOf(mode);
            string name = mode.ToString().ToLowerInvariant();
            bool searched = mode switch { ServingMode.Disaggregated => o.HighAffinity || o.LowAffinity, ServingMode.Colocated => o.Colocated, _ => o.Chunked };
            output.WriteLine(best is null
                ? $"  best {name,-13} {(searched ? "none meets the SLOs" : "not searched (--candidates)")}"
                : $"  best {name,-13} {Rate(best.Goodput)} req/s on {best.Devices} ({Rate(best.GoodputPerDevice)} per device){(best.ReachesTargetRate ? "" : ", short of the rate")}");
        }
    }

    private static string Rate(double r) => r.ToString("0.###", CultureInfo.InvariantCulture);

    private static T Usage<T>(Func<T> f)
    {
        try { return f(); }
        catch (ArgumentOutOfRangeException e) when (e.ParamName is not null) { throw new CliUsageException(e.Message.Replace($" (Parameter '{e.ParamName}')", "")); }
        catch (ArgumentException e) { throw new CliUsageException(e.Message); }
    }

    private static void Usage(Action f) => Usage(() => { f(); return 0; });
}
