using System.Globalization;
using System.Text.Json.Nodes;

namespace Tandem.Bench;

/// <summary>
/// The side-by-side table of bench/llama-cpp/build-and-bench.sh: reads the rounds it wrote (per ISA folder,
/// <c>round-N[.model].tandem.json</c> from <c>Tandem.Bench engine --json</c> and <c>round-N[.model].llama-bench.json</c>
/// from <c>llama-bench -o json</c>) and prints, per file and ISA, each engine's median over the rounds of the round's
/// best repetition, and the ratio Tandem ÷ native llama.cpp. The best repetition, because other work on a shared
/// machine only ever slows a run down: the fastest of a round's repetitions is the one it disturbed least. The ratio is taken within each round (an A/B pair, run back to back) against the
/// faster of flash attention off and on in that round, and the median of those ratios is printed with its range:
/// on a shared machine the pairs hold when absolute speeds drift.
/// </summary>
public static class AnchorReport
{
    private sealed class Series
    {
        public readonly List<double> Tandem = [], Bundle = [], NativeFaOff = [], NativeFaOn = [], Ratio = [];
    }

    public static int Run(string dir, string? commit, TextWriter output)
    {
        var isaDirs = Directory.Exists(dir)
            ? Directory.GetDirectories(dir).Where(d => Directory.GetFiles(d, "round-*.tandem.json").Length > 0)
                .OrderBy(d => Path.GetFileName(d) == "native" ? 0 : 1).ThenBy(d => d, StringComparer.Ordinal).ToList()
            : [];
        if (isaDirs.Count == 0)
        {
            Console.Error.WriteLine($"error: {dir}: no <isa>/round-N.tandem.json reports");
            return 1;
        }

        var rows = new List<string>();
        var notes = new SortedSet<string>(StringComparer.Ordinal);
        var times = new List<string>();
        var loads = new List<double>();
        EngineRunReport? any = null;
        int rounds = 0;
        foreach (var isaDir in isaDirs)
        {
            string isa = Path.GetFileName(isaDir);
            var pp = new SortedDictionary<string, Series>(StringComparer.Ordinal);
            var tg = new SortedDictionary<string, Series>(StringComparer.Ordinal);
            var roundFiles = Directory.GetFiles(isaDir, "round-*.tandem.json").Order(StringComparer.Ordinal).ToList();
            rounds = Math.Max(rounds, roundFiles.Select(RoundOf).Distinct().Count());
            foreach (var tandemPath in roundFiles)
            {
                var t = EngineRunReport.Read(tandemPath);
                any ??= t;
                times.Add(t.Utc);
                loads.AddRange(new[] { t.LoadAverageStart, t.LoadAverageEnd }.Select(FirstLoad).OfType<double>());
                notes.Add($"{isa}: Tandem on .NET {t.DotnetIsa}" + (t.BundleLibrary is { } lib ? $", LLamaSharp bundle {ShortLibrary(lib)}" : ""));
                var native = new JsonArray();
                foreach (var llamaPath in Directory.GetFiles(isaDir, RoundOf(tandemPath) + ".*llama-bench.json"))
                    foreach (var n in JsonNode.Parse(File.ReadAllText(llamaPath)) as JsonArray ?? [])
                        native.Add(n?.DeepClone());
                foreach (var n in native.OfType<JsonObject>())
                {
                    notes.Add($"{isa}: llama.cpp {Str(n, "build_commit")} (build {Str(n, "build_number")}), {Str(n, "cpu_info")}, KV {Str(n, "type_k")}");
                    times.Add(Str(n, "test_time"));
                }
                foreach (var e in t.Results)
                {
                    Add(pp, e, e.PrefillTokPerSec, native, promptTest: true);
                    Add(tg, e, e.DecodeTokPerSec, native, promptTest: false);
                }
            }
            foreach (var (file, p) in pp)
            {
                var d = tg[file];
                rows.Add($"| {file} | {isa} | {Median(p.Tandem)} | {Median(p.Bundle)} | {Median(p.NativeFaOff)} ; {Median(p.NativeFaOn)} | {RatioText(p.Ratio)} " +
                         $"| {Median(d.Tandem)} | {Median(d.Bundle)} | {Median(d.NativeFaOff)} ; {Median(d.NativeFaOn)} | {RatioText(d.Ratio)} |");
            }
        }

        // The script logs the load average around every run of either engine; without it, Tandem's own record.
        string loadLog = Path.Combine(dir, "load.tsv");
        if (File.Exists(loadLog))
        {
            var lines = File.ReadAllLines(loadLog).Select(l => l.Split('\t')).ToList();
            int before = Array.IndexOf(lines[0], "loadavg_before"), after = Array.IndexOf(lines[0], "loadavg_after");
            if (before >= 0 && after >= 0)
                loads = lines.Skip(1).Where(f => f.Length > Math.Max(before, after))
                    .SelectMany(f => new[] { FirstLoad(f[before]), FirstLoad(f[after]) }).OfType<double>().ToList();
        }
        var stamps = times.Where(s => s.Length > 0).Order(StringComparer.Ordinal).ToList();
        output.WriteLine(Inv($"llama.cpp commit {commit ?? "(not given)"}; {stamps.FirstOrDefault()} to {stamps.LastOrDefault()}"));
        output.WriteLine(Inv($"CPU {any!.CpuModel}; flags {any.CpuFlags}; load average (1 min) {(loads.Count > 0 ? $"{loads.Min():F1} to {loads.Max():F1}" : "unknown")} during the runs"));
        if (loads.Count > 0 && loads.Max() >= Environment.ProcessorCount)
            output.WriteLine(Inv($"WARNING: the load average reached {loads.Max():F1} on {Environment.ProcessorCount} cores: other work shared them, and spinning thread pools (llama.cpp's most) slow down out of proportion; do not publish these figures as speeds"));
        foreach (var n in notes) output.WriteLine(n);
        output.WriteLine(Inv($"{any.Threads} threads, KV {any.Kv}, {rounds} rounds (A/B pairs) of {any.Repetitions} repetitions each; decode {(any.DecodeFromEmpty ? "from an empty cache (as llama-bench's tg)" : "after the prompt")}"));
        output.WriteLine();
        output.WriteLine(Inv($"| file | ISA | pp{any.PromptTokens} Tandem | bundle | native fa off ; on | Tandem ÷ native | tg{any.DecodeTokens} Tandem | bundle | native fa off ; on | Tandem ÷ native |"));
        output.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows) output.WriteLine(r);
        output.WriteLine();
        output.WriteLine("(tok/s, median over rounds of each round's best repetition; ratio: median over rounds of Tandem ÷ the faster native figure of that round, range in brackets)");
        return 0;
    }

    /// <summary>Adds one round of one engine on one file, and the round's ratio when this is Tandem's entry.</summary>
    private static void Add(SortedDictionary<string, Series> table, EngineRunReport.Entry e, double[] samples, JsonArray native, bool promptTest)
    {
        if (!table.TryGetValue(e.File, out var s)) table[e.File] = s = new Series();
        double rate = samples.Max();
        if (e.Engine == EngineRunReport.BundleEngine) { s.Bundle.Add(rate); return; }
        s.Tandem.Add(rate);

        double? off = null, on = null;
        foreach (var n in native.OfType<JsonObject>())
        {
            if (Path.GetFileName(Str(n, "model_filename")) != e.File) continue;
            bool isPrompt = Num(n, "n_prompt") > 0 && Num(n, "n_gen") == 0;
            bool isGen = Num(n, "n_gen") > 0 && Num(n, "n_prompt") == 0;
            if (promptTest ? !isPrompt : !isGen) continue;
            double nativeRate = n["samples_ts"] is JsonArray samplesTs
                ? samplesTs.Max(x => x?.GetValue<double>() ?? 0)
                : Num(n, "avg_ts");
            if (FlashAttention(n)) on = nativeRate; else off = nativeRate;
        }
        if (off is { } a) s.NativeFaOff.Add(a);
        if (on is { } b) s.NativeFaOn.Add(b);
        if (off is not null || on is not null)
            s.Ratio.Add(rate / Math.Max(off ?? 0, on ?? 0));
    }

    /// <summary>round-3.smollm-135m-f16.tandem.json → round-3.</summary>
    private static string RoundOf(string path) => Path.GetFileName(path).Split('.')[0];

    /// <summary>llama-bench writes flash_attn as a bool, newer versions as an int (-1 auto, 0, 1).</summary>
    private static bool FlashAttention(JsonObject n) => n["flash_attn"] switch
    {
        JsonValue v when v.TryGetValue(out bool b) => b,
        JsonValue v when v.TryGetValue(out int i) => i > 0,
        _ => false,
    };

    private static string Str(JsonObject n, string key) => n[key] switch
    {
        JsonValue v when v.TryGetValue(out string? s) => s ?? "",
        JsonValue v => v.ToJsonString(),
        _ => "",
    };

    private static double Num(JsonObject n, string key) => n[key] is JsonValue v && v.TryGetValue(out double d) ? d : 0;

    private static double? FirstLoad(string loadAverage) =>
        double.TryParse(loadAverage.Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var l) ? l : null;

    /// <summary>runtimes/linux-x64/native/avx512/libllama.so → avx512.</summary>
    private static string ShortLibrary(string path) => Path.GetFileName(Path.GetDirectoryName(path)) ?? path;

    private static double? MedianOf(List<double> xs)
    {
        if (xs.Count == 0) return null;
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    private static string Median(List<double> xs) => MedianOf(xs) is { } m ? Inv($"{m:F1}") : "–";

    private static string RatioText(List<double> xs) =>
        MedianOf(xs) is { } m ? Inv($"**{m:F2}** ({xs.Min():F2}–{xs.Max():F2})") : "–";

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
