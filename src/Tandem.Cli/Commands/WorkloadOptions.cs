using System.CommandLine;
using Tandem.Benchmark;
using Tandem.Benchmark.Workloads;

namespace Tandem.Cli.Commands;

/// <summary>
/// The options that say what load to play — workload, lengths, arrivals, SLOs, goodput search — shared by
/// <c>bench serve</c> (against a server) and <c>simulate</c> (against the simulator) so that the same flags mean the
/// same requests in both. A fresh set per command.
/// </summary>
internal sealed class WorkloadOptions
{
    public Option<string> Workload { get; } = new("--workload") { Description = $"Synthetic workload: {string.Join(", ", WorkloadSpec.PresetNames)}, or fixed:IN:OUT (e.g. fixed:128:32); or {MultiTurnWorkload.Name} (conversations resending their history, see --turns)", DefaultValueFactory = _ => "fixed" };
    public Option<string?> Trace { get; } = new("--trace") { Description = "JSONL trace of {input_len, output_len, arrival_time} rows: exact lengths, and the trace's arrival times when it has them" };
    public Option<int?> NumPrompts { get; } = new("--num-prompts", "-n") { Description = "Requests per run (default 100; a trace: all its rows)" };
    public Option<int?> InputLen { get; } = new("--input-len") { Description = "Mean prompt length in tokens (exact for 'fixed')" };
    public Option<int?> OutputLen { get; } = new("--output-len") { Description = "Mean answer length in tokens (exact for 'fixed'; for a dataset: overrides every answer length)" };
    public Option<double?> InputCv { get; } = new("--input-cv") { Description = "Prompt length CV (0 = fixed)" };
    public Option<double?> OutputCv { get; } = new("--output-cv") { Description = "Answer length CV (0 = fixed)" };
    public Option<int?> MaxModelLen { get; } = new("--max-model-len") { Description = "Cap on prompt + answer tokens" };
    public Option<bool> TokenIds { get; } = new("--token-ids") { Description = "Send prompts as token-id arrays (completions only): exact prompt lengths" };
    public Option<string?> Rate { get; } = new("--rate") { Description = "Request rate (req/s) or 'inf' for all at once (default inf; a timed trace: its own pace, stretched to the rate when given); with --goodput: the first rate tried" };
    public Option<string?> Rates { get; } = new("--rates") { Description = "Comma-separated rates to sweep, e.g. 1,2,4,inf" };
    public Option<double?> Cv { get; } = new("--cv") { Description = "Arrival burstiness as the CV of inter-arrival gaps: 1 = Poisson (default), >1 burstier, 0 evenly spaced" };
    public Option<int> Seed { get; } = new("--seed") { Description = "Seed for workload, arrivals and each run's prompts (every rate of a sweep sends prompts of its own)", DefaultValueFactory = _ => 0 };
    public Option<double?> SloTtft { get; } = new("--slo-ttft") { Description = "TTFT SLO in seconds" };
    public Option<double?> SloTpot { get; } = new("--slo-tpot") { Description = "TPOT SLO in seconds" };
    public Option<bool> Goodput { get; } = new("--goodput") { Description = "Bisect the highest rate meeting --attainment" };
    public Option<double> Attainment { get; } = new("--attainment") { Description = "Attainment target for --goodput (0-1)", DefaultValueFactory = _ => 0.9 };
    public Option<double> Precision { get; } = new("--precision") { Description = "Goodput precision in req/s", DefaultValueFactory = _ => 0.1 };
    public Option<double> MaxRate { get; } = new("--max-rate") { Description = "Highest rate --goodput tries", DefaultValueFactory = _ => 1000 };
    public Option<string?> OutJson { get; } = new("--out") { Description = "Write the report (all requests + summaries) as JSON, gzipped when the name ends in .gz" };

    public Option<int?> Turns { get; } = new("--turns") { Description = $"--workload {MultiTurnWorkload.Name}: turns per conversation, each resending the history (default {MultiTurnWorkload.DefaultTurns}); --input-len is then the mean user message, --output-len the mean answer, --num-prompts the requests (whole conversations), --rate conversations started per second" };
    public Option<int?> SystemLen { get; } = new("--system-len") { Description = $"--workload {MultiTurnWorkload.Name}: tokens of the system prompt all conversations share (default {MultiTurnWorkload.DefaultSystemTokens}; 0: none)" };
    public Option<double?> ThinkTime { get; } = new("--think-time") { Description = $"--workload {MultiTurnWorkload.Name}: mean seconds between an answer and the next turn, exponential (default {MultiTurnWorkload.DefaultThinkSeconds}; 0: at once)" };

    public IEnumerable<Option> All => [Workload, Trace, NumPrompts, InputLen, OutputLen, InputCv, OutputCv, MaxModelLen, TokenIds, Rate, Rates, Cv, Seed,
        SloTtft, SloTpot, Goodput, Attainment, Precision, MaxRate, OutJson, Turns, SystemLen, ThinkTime];

    /// <summary>
    /// <paramref name="o"/> with what these options say: workload, lengths, rates (or the search), arrivals' CV
    /// (<paramref name="arrivalCv"/>, when the command derives it otherwise), seed and SLOs. A trace (<paramref name="isTrace"/>)
    /// plays all its rows unless --num-prompts says otherwise.
    /// </summary>
    public ServeBenchmarkOptions Apply(ParseResult parse, ServeBenchmarkOptions o, bool isTrace, double? arrivalCv = null)
    {
        var (rates, search) = BenchCommands.ParseRateOptions(parse.GetValue(Rate), parse.GetValue(Rates), parse.GetValue(Goodput));
        return o with
        {
            Workload = parse.GetValue(Workload)!,
            Trace = parse.GetValue(Trace),
            NumPrompts = parse.GetValue(NumPrompts) ?? (isTrace ? int.MaxValue : 100),
            InputLength = parse.GetValue(InputLen),
            OutputLength = parse.GetValue(OutputLen),
            InputCv = parse.GetValue(InputCv),
            OutputCv = parse.GetValue(OutputCv),
            MaxModelLength = parse.GetValue(MaxModelLen),
            PromptFormat = parse.GetValue(TokenIds) ? PromptFormat.TokenIds : PromptFormat.Text,
            Rates = rates,
            ArrivalCv = arrivalCv ?? parse.GetValue(Cv) ?? 1.0,
            Seed = parse.GetValue(Seed),
            Slo = BenchCommands.ParseSlo(parse.GetValue(SloTtft), parse.GetValue(SloTpot)),
            Goodput = search ? BenchCommands.SearchOptions(rates, parse.GetValue(Attainment), parse.GetValue(Precision), parse.GetValue(MaxRate)) : null,
            Turns = parse.GetValue(Turns),
            SystemLength = parse.GetValue(SystemLen),
            ThinkTime = parse.GetValue(ThinkTime),
        };
    }
}
