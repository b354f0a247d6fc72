using System.Globalization;
using LLama.Native;
using Tandem.Bench;
using Tandem.Engine.Tests.Oracle;
using Tandem.Engine.Gguf;
using Tandem.Engine.KvCache;

// Side-by-side timing of Tandem and llama.cpp (through LLamaSharp) on the same GGUF files, same thread
// count, in one process, so both see the same machine state. Results go to docs/performance.md.
const string Usage = """
    usage: Tandem.Bench engine <file.gguf> [<file.gguf> ...] [--threads N] [--pp N] [--tg N] [--reps N]
                                [--kv f32|f16] [--weights auto|mapped|huge-pages] [--tg-from-empty] [--no-bundle] [--json FILE]
           Tandem.Bench batch  <file.gguf> [--threads N] [--batch 1,4,16,64] [--ctx N] [--steps N] [--reps N]
                                [--kv f32|f16] [--weights auto|mapped|huge-pages] [--no-bundle] [--json FILE]
           Tandem.Bench kv     <file.gguf> [--threads N] [--ctx N] [--reps N]
           Tandem.Bench llama  <file.gguf> [...]   (llama.cpp alone)
           Tandem.Bench anchor-report <dir> [--commit C] [--json FILE]   (the table of bench/llama-cpp/build-and-bench.sh)
           Tandem.Bench kernels [--rows R] [--cols C] [--batch 1,4,16,64,512] [--types f16,q8_0,...] [--json FILE]
           Tandem.Bench attention [--pp N] [--ctx N]
           Tandem.Bench steps --replay STEPS.jsonl --model <file.gguf> [--reps N] [--passes N] [--ctx-bucket N] [--max-buckets N]
                                [--instance NAME] [--no-pin] [--json FILE]
      engine: prefill of --pp tokens (default 512) and --tg single-token decode steps after it (default 128);
              --tg-from-empty decodes from an empty cache instead, as llama-bench's tg test does; --no-bundle
              times Tandem alone; --json writes every repetition's rate and the machine state to FILE. It also
              measures the read bandwidth with --threads threads and prints each file's decode limit (that
              bandwidth ÷ the weight bytes a decode step reads) and Tandem's peak resident memory per file
      kv:     KV export/import of a --ctx-token sequence (default 512 here): bytes per token, GB/s
      batch:  decode steps adding one token to each of B sequences holding --ctx tokens (default 128), --steps (default 16);
              --json writes each batch size's rates and the load average when it ran to FILE
      kernels: Tandem's matmul alone, 1 thread, R x C random weights (default 576 x 1536) of each type, every kernel
              path this machine has and the four-token dot used before them: ns per 32 products, thread CPU time;
              --types limits it to those weight types (default f16,q8_0,q5_0,q4_0,q4_k)
      attention: one layer of attention alone (SmolLM-135M's heads), 1 thread, F32 and F16 caches: prefill of --pp
              tokens (default 512) and one decode step after --ctx (default 512), and the F16 kernel used before
              the tiles; ms per layer and ns per (query, cell) pair, thread CPU time
      steps:  the batches of a server's step log (tandem serve --step-log STEPS.jsonl) rebuilt and timed alone, each with
              the instance's thread count pinned to its cores (--no-pin: unpinned) and its KV type: per composition
              bucket (decode sequences, their context each rounded to --ctx-bucket tokens (default 32), prompt chunks)
              the server's median forward time against the bench's over --reps runs (default 5) in each of --passes
              passes over all buckets (default 3; the spread of the pass medians says how much the bench's own figure
              moves), and server ÷ bench per step (median, p90, time-weighted); the --max-buckets commonest
              compositions (default 48) per instance.
              Run it on the machine the server ran on, with the same model file (a log that records another model's
              fingerprint is refused).
      Both engines use the --kv cache type (default f32), llama.cpp without flash attention and with its default
      weight repacking; --weights places Tandem's weights (default auto: in huge pages where Linux has them on).
    """;

if (args.Length < 2 && !(args.Length >= 1 && args[0] is "kernels" or "attention")) { Console.Error.WriteLine(Usage); return 2; }
string mode = args[0];
var files = new List<string>();
int threads = Environment.ProcessorCount, pp = 512, tg = 128, ctx = 128, steps = 16, reps = 3, rows = 576, cols = 1536;
int[]? batchOption = null;
string kv = "f32";
string weightsOption = "auto";
bool tgFromEmpty = false, bundle = true;
string? jsonPath = null, commit = null, kernelTypes = null, replayPath = null, modelPath = null, instanceName = null;
int ctxBucket = 32, maxBuckets = 48, passes = 3;
bool pin = true, repsGiven = false;
for (int i = 1; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    int IntValue() => int.Parse(Value(), CultureInfo.InvariantCulture);
    switch (args[i])
    {
        case "--threads": threads = IntValue(); break;
        case "--pp": pp = IntValue(); break;
        case "--tg": tg = IntValue(); break;
        case "--ctx": ctx = IntValue(); break;
        case "--steps": steps = IntValue(); break;
        case "--reps": reps = IntValue(); repsGiven = true; break;
        case "--replay": replayPath = Value(); break;
        case "--model": modelPath = Value(); break;
        case "--ctx-bucket": ctxBucket = IntValue(); break;
        case "--max-buckets": maxBuckets = IntValue(); break;
        case "--passes": passes = IntValue(); break;
        case "--instance": instanceName = Value(); break;
        case "--no-pin": pin = false; break;
        case "--batch": batchOption = Value().Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(); break;
        case "--kv": kv = Value(); break;
        case "--weights": weightsOption = Value(); break;
        case "--tg-from-empty": tgFromEmpty = true; break;
        case "--no-bundle": bundle = false; break;
        case "--json": jsonPath = Value(); break;
        case "--commit": commit = Value(); break;
        case "--rows": rows = IntValue(); break;
        case "--types": kernelTypes = Value(); break;
        case "--cols": cols = IntValue(); break;
        case var f when !f.StartsWith("--", StringComparison.Ordinal): files.Add(f); break;
        default: Console.Error.WriteLine($"unknown option {args[i]}\n{Usage}"); return 2;
    }
}
int[] batches = batchOption ?? [1, 4, 16, 64];
if (mode == "steps")
{
    if (replayPath is null || modelPath is null) return Fail("steps needs --replay STEPS.jsonl and --model <file.gguf>");
    foreach (var f in new[] { replayPath, modelPath })
        if (!File.Exists(f)) return Fail($"{f}: no such file");
    if (reps < 1 || ctxBucket < 1 || maxBuckets < 1 || passes < 1) return Fail("--reps, --passes, --ctx-bucket and --max-buckets must be at least 1");
    try
    {
        return StepReplay.Run(new StepReplay.Settings(replayPath, modelPath, repsGiven ? reps : 5, ctxBucket, maxBuckets, pin, instanceName, passes), Console.Out, jsonPath);
    }
    catch (Exception e) when (e is FormatException or StepReplayModelException)
    {
        return Fail(e.Message);
    }
}
if (mode == "anchor-report")
    return files.Count == 1 ? AnchorReport.Run(files[0], commit, Console.Out, jsonPath) : Fail("anchor-report takes one folder");
foreach (var f in files)
    if (!File.Exists(f)) { Console.Error.WriteLine($"error: {f}: no such file"); return 1; }
if (kv is not ("f32" or "f16")) return Fail($"--kv must be f32 or f16, got {kv}");
if (WeightPlacementNames.Parse(weightsOption) is not { } placement) return Fail($"--weights must be auto, mapped or huge-pages, got {weightsOption}");
// Every rate in the engine report divides by these; a zero gave a NaN rate that the JSON writer then threw on.
if (mode is "engine" or "llama" && (pp < 1 || tg < 1 || reps < 1)) return Fail($"--pp, --tg and --reps must be at least 1 (got {pp}, {tg}, {reps})");

var llama = new LlamaCppRunner
{
    KvType = kv == "f16" ? GGMLType.GGML_TYPE_F16 : GGMLType.GGML_TYPE_F32, FlashAttention = false, RepackWeights = true, Repetitions = reps,
};
var tandem = new TandemRunner
{
    KvType = kv == "f16" ? KvElementType.F16 : KvElementType.F32, Repetitions = reps,
    Weights = placement,
};
string WeightsName() => WeightPlacementNames.Name(tandem.LoadedPlacement);
string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

Console.WriteLine(Inv($"threads {threads}, {reps} repetitions, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC"));
switch (mode)
{
    case "engine":
    {
        string loadStart = MachineInfo.LoadAverage, started = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        var entries = new List<EngineRunReport.Entry>();
        Console.WriteLine(Inv($"CPU {MachineInfo.CpuModel} ({MachineInfo.CpuFlags}); Tandem on .NET {MachineInfo.DotnetIsa}; KV {kv}; decode {(tgFromEmpty ? "from an empty cache" : "after the prompt")}; load average {loadStart}"));
        double bandwidth = ReadBandwidth.Measure(threads);
        Console.WriteLine(Inv($"read bandwidth {bandwidth / 1e9:F1} GB/s ({threads} threads, median of 7 passes over {ReadBandwidth.DefaultBytes >> 20} MiB)"));
        Console.WriteLine(Inv($"| model | pp{pp} Tandem | pp{pp} llama.cpp | ratio | tg{tg} Tandem | tg{tg} llama.cpp | ratio | decode limit | Tandem peak RSS |"));
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var f in files)
        {
            var weights = DecodeWeightBytes.Of(f);
            // The peak is per model: reset before the load, read before the bundle loads the same file in this process.
            bool peakReset = PeakResidentMemory.Reset();
            var t = tandem.Time(f, threads, pp, tg, tgFromEmpty);
            long? peak = peakReset ? PeakResidentMemory.Read() : null;
            entries.Add(new(Path.GetFileName(f), EngineRunReport.TandemEngine, t.PrefillTokPerSec, t.DecodeTokPerSec, weights.Total, peak));
            string limit = Inv($"{bandwidth / weights.Total:F1} tok/s");
            string rss = peak is { } p ? Inv($"{p / 1048576.0:F0} MiB") : "–";
            if (!bundle)
            {
                Console.WriteLine(Inv($"| {Path.GetFileName(f)} | {t.Prefill:F1} | – | – | {t.Decode:F1} | – | – | {limit} | {rss} |"));
                continue;
            }
            var l = llama.Time(f, threads, pp, tg, tgFromEmpty);
            entries.Add(new(Path.GetFileName(f), EngineRunReport.BundleEngine, l.PrefillTokPerSec, l.DecodeTokPerSec, weights.Total));
            Console.WriteLine(Inv($"| {Path.GetFileName(f)} | {t.Prefill:F1} | {l.Prefill:F1} | {t.Prefill / l.Prefill:F2} | {t.Decode:F1} | {l.Decode:F1} | {t.Decode / l.Decode:F2} | {limit} | {rss} |"));
        }
        Console.WriteLine("(tok/s; ratio = Tandem / llama.cpp, above 1 means Tandem is faster; decode limit = read bandwidth ÷ weight bytes per token)");
        if (jsonPath != null)
            new EngineRunReport(started, MachineInfo.CpuModel, MachineInfo.CpuFlags, MachineInfo.DotnetIsa,
                bundle ? LlamaCppNative.LoadedLibraryPath : null, loadStart, MachineInfo.LoadAverage, threads, pp, tg,
                tgFromEmpty, kv, reps, entries, bandwidth, WeightsName()).Write(jsonPath);
        return 0;
    }
    case "batch":
    {
        var entries = new List<BatchRunReport.Entry>();
        string started = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        Console.WriteLine(Inv($"CPU {MachineInfo.CpuModel}; Tandem on .NET {MachineInfo.DotnetIsa}; KV {kv}"));
        foreach (var f in files)
        {
            Console.WriteLine(Inv($"{Path.GetFileName(f)}: decode with B sequences of {ctx} tokens, {steps} steps"));
            Console.WriteLine("| B | Tandem tok/s | llama.cpp tok/s | ratio | Tandem speed-up over B=1 | llama.cpp speed-up over B=1 | load average |");
            Console.WriteLine("|---:|---:|---:|---:|---:|---:|---|");
            double t1 = 0, l1 = 0;
            foreach (int b in batches)
            {
                string load = MachineInfo.LoadAverage;
                double l = bundle ? llama.DecodeBatchTokPerSec(f, threads, b, ctx, steps) : double.NaN;
                double t = tandem.DecodeBatchTokPerSec(f, threads, b, ctx, steps);
                if (b == batches[0]) { t1 = t; l1 = l; }
                entries.Add(new(Path.GetFileName(f), b, t, bundle ? l : null, load));
                Console.WriteLine(bundle
                    ? Inv($"| {b} | {t:F1} | {l:F1} | {t / l:F2} | {t / t1:F2} | {l / l1:F2} | {load} |")
                    : Inv($"| {b} | {t:F1} | – | – | {t / t1:F2} | – | {load} |"));
            }
        }
        if (jsonPath != null)
            new BatchRunReport(started, MachineInfo.CpuModel, MachineInfo.CpuFlags, MachineInfo.DotnetIsa,
                bundle ? LlamaCppNative.LoadedLibraryPath : null, threads, ctx, steps, reps, kv, entries, WeightsName()).Write(jsonPath);
        return 0;
    }
    case "kv":
        foreach (var f in files)
            KvTransferBench.Run(f, threads, args.Contains("--ctx") ? ctx : 512, reps, Console.Out);
        return 0;
    case "kernels":
    {
        GgmlType[] types;
        try
        {
            types = KernelBench.ParseTypes(kernelTypes);
        }
        catch (ArgumentException e)
        {
            return Fail(e.Message); // a --types it has no kernel for: one line, not a stack trace
        }
        KernelBench.Run(rows, cols, batchOption ?? [1, 4, 16, 64, 512], Console.Out, jsonPath, types);
        return 0;
    }
    case "attention":
        AttentionBench.Run(pp, args.Contains("--ctx") ? ctx : 512, Console.Out);
        return 0;
    case "llama":
        foreach (var f in files)
        {
            var l = llama.Time(f, threads, pp, tg, tgFromEmpty);
            Console.WriteLine(Inv($"{Path.GetFileName(f)}: pp{pp} {l.Prefill:F1} tok/s, tg{tg} {l.Decode:F1} tok/s ({LlamaCppNative.LoadedLibraryPath})"));
        }
        return 0;
    default:
        Console.Error.WriteLine(Usage);
        return 2;
}

static int Fail(string message)
{
    Console.Error.WriteLine($"error: {message}");
    return 2;
}
