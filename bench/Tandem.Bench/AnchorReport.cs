using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tandem.Bench;

/// <summary>
/// The side-by-side table of bench/llama-cpp/build-and-bench.sh: reads the rounds it wrote (per ISA folder,
/// <c>round-N[.model].tandem.json</c> from <c>Tandem.Bench engine --json</c>, <c>round-N[.model].llama-bench.json</c>
/// from <c>llama-bench -o json</c> and <c>round-N.model.llama-bench.maxrss</c>, llama-bench's peak resident KiB from
/// <c>/usr/bin/time</c>) and prints, per file and ISA, each engine's median over the rounds of the round's best
/// repetition, and the ratio Tandem ÷ native llama.cpp. The best repetition, because other work on a shared machine
/// only ever slows a run down: the fastest of a round's repetitions is the one it disturbed least. The ratio is taken
/// within each round (an A/B pair, run back to back) against the faster of flash attention off and on in that round,
/// and the median of those ratios is printed with its range: on a shared machine the pairs hold when absolute speeds
/// drift. Beside each decode figure: the bandwidth limit (the median read bandwidth Tandem's bench measured in that
/// ISA's runs ÷ the weight bytes a decode step reads), each engine's share of it, and each engine's peak resident memory.
/// </summary>
public static class AnchorReport
{
    /// <summary>Median and range of one engine pair's per-round ratios.</summary>
    public sealed record Ratio(double Median, double Min, double Max);

    /// <summary>One file on one ISA: medians over rounds (tok/s), ratios, the decode limit and peak memory; null where not measured.</summary>
    public sealed record Row(
        string File, string Isa, int Rounds, int Repetitions,
        double? PrefillTandem, double? PrefillBundle, double? PrefillNativeFaOff, double? PrefillNativeFaOn, Ratio? PrefillRatio,
        double? DecodeTandem, double? DecodeBundle, double? DecodeNativeFaOff, double? DecodeNativeFaOn, Ratio? DecodeRatio,
        long? WeightBytesPerToken, double? ReadBandwidthBytesPerSec, double? DecodeLimitTokPerSec,
        double? TandemPercentOfLimit, double? NativePercentOfLimit,
        long? TandemPeakRssBytes, long? NativePeakRssBytes);

    /// <summary>Everything the table shows, as <c>anchor-report --json</c> writes it.</summary>
    public sealed record Summary(
        string? LlamaCppCommit, string? From, string? To, string CpuModel, string CpuFlags,
        double? LoadAverageMin, double? LoadAverageMax, int Cores, IReadOnlyList<string> Notes,
        int Threads, string Kv, int PromptTokens, int DecodeTokens, bool DecodeFromEmpty, IReadOnlyList<Row> Rows);

    private sealed class Series
    {
        public readonly List<double> Tandem = [], Bundle = [], NativeFaOff = [], NativeFaOn = [], Ratio = [];
    }

    public static int Run(string dir, string? commit, TextWriter output, string? jsonPath = null)
    {
        var summary = Build(dir, commit);
        if (summary is null)
        {
            Console.Error.WriteLine($"error: {dir}: no <isa>/round-N.tandem.json reports");
            return 1;
        }
        Write(summary, output);
        if (jsonPath != null)
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(summary, EngineRunReport.Json));
        return 0;
    }

    /// <summary>Reads a folder the script wrote; null when it holds no Tandem reports.</summary>
    public static Summary? Build(string dir, string? commit)
    {
        var isaDirs = Directory.Exists(dir)
            ? Directory.GetDirectories(dir).Where(d => Directory.GetFiles(d, "round-*.tandem.json").Length > 0)
                .OrderBy(d => Path.GetFileName(d) == "native" ? 0 : 1).ThenBy(d => d, StringComparer.Ordinal).ToList()
            : [];
        if (isaDirs.Count == 0) return null;

        var rows = new List<Row>();
        var notes = new SortedSet<string>(StringComparer.Ordinal);
        var times = new List<string>();
        var loads = new List<double>();
        EngineRunReport? any = null;
        foreach (var isaDir in isaDirs)
        {
            string isa = Path.GetFileName(isaDir);
            var pp = new SortedDictionary<string, Series>(StringComparer.Ordinal);
            var tg = new SortedDictionary<string, Series>(StringComparer.Ordinal);
            var weightBytes = new Dictionary<string, long>(StringComparer.Ordinal);
            var repetitions = new Dictionary<string, int>(StringComparer.Ordinal);
            var tandemRss = new Dictionary<string, List<double>>(StringComparer.Ordinal);
            var bandwidths = new List<double>();
            foreach (var tandemPath in Directory.GetFiles(isaDir, "round-*.tandem.json").Order(StringComparer.Ordinal))
            {
                var t = EngineRunReport.Read(tandemPath);
                any ??= t;
                times.Add(t.Utc);
                loads.AddRange(new[] { t.LoadAverageStart, t.LoadAverageEnd }.Select(FirstLoad).OfType<double>());
                if (t.ReadBandwidthBytesPerSec is { } bw) bandwidths.Add(bw);
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
                    if (e.Engine != EngineRunReport.TandemEngine) continue;
                    repetitions[e.File] = t.Repetitions;
                    if (e.WeightBytesPerToken is { } w) weightBytes[e.File] = w;
                    if (e.PeakRssBytes is { } rss) Values(tandemRss, e.File).Add(rss);
                }
            }
            var nativeRss = NativePeakRss(isaDir);
            double? bandwidth = MedianOf(bandwidths);
            if (bandwidth is { } b)
                notes.Add(Inv($"{isa}: read bandwidth {b / 1e9:F1} GB/s (median of {bandwidths.Count} runs of Tandem's bench, {any!.Threads} threads)"));
            foreach (var (file, p) in pp)
            {
                var d = tg[file];
                long? bytes = weightBytes.TryGetValue(file, out var w) ? w : null;
                double? limit = bandwidth / bytes;
                double? tandem = MedianOf(d.Tandem);
                double? nativeBest = Max(MedianOf(d.NativeFaOff), MedianOf(d.NativeFaOn));
                rows.Add(new Row(file, isa, p.Tandem.Count, repetitions.GetValueOrDefault(file),
                    MedianOf(p.Tandem), MedianOf(p.Bundle), MedianOf(p.NativeFaOff), MedianOf(p.NativeFaOn), RatioOf(p.Ratio),
                    tandem, MedianOf(d.Bundle), MedianOf(d.NativeFaOff), MedianOf(d.NativeFaOn), RatioOf(d.Ratio),
                    bytes, bandwidth, limit, 100 * tandem / limit, 100 * nativeBest / limit,
                    (long?)MedianOf(tandemRss.GetValueOrDefault(file) ?? []), (long?)MedianOf(nativeRss.GetValueOrDefault(file) ?? [])));
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
        return new Summary(commit, stamps.FirstOrDefault(), stamps.LastOrDefault(), any!.CpuModel, any.CpuFlags,
            loads.Count > 0 ? loads.Min() : null, loads.Count > 0 ? loads.Max() : null, Environment.ProcessorCount, notes.ToList(),
            any.Threads, any.Kv, any.PromptTokens, any.DecodeTokens, any.DecodeFromEmpty, rows);
    }

    /// <summary>The markdown table with its header lines.</summary>
    public static void Write(Summary s, TextWriter output)
    {
        output.WriteLine(Inv($"llama.cpp commit {s.LlamaCppCommit ?? "(not given)"}; {s.From} to {s.To}"));
        output.WriteLine(Inv($"CPU {s.CpuModel}; flags {s.CpuFlags}; load average (1 min) {(s.LoadAverageMax is { } hi ? $"{s.LoadAverageMin:F1} to {hi:F1}" : "unknown")} during the runs"));
        if (s.LoadAverageMax is { } max && max >= s.Cores)
            output.WriteLine(Inv($"WARNING: the load average reached {max:F1} on {s.Cores} cores: other work shared them, and spinning thread pools (llama.cpp's most) slow down out of proportion; do not publish these figures as speeds"));
        foreach (var n in s.Notes) output.WriteLine(n);
        var shapes = s.Rows.Select(r => (r.Rounds, r.Repetitions)).Distinct().Select(x => Inv($"{x.Rounds} rounds (A/B pairs) of {x.Repetitions} repetitions"));
        output.WriteLine(Inv($"{s.Threads} threads, KV {s.Kv}, {string.Join(" or ", shapes)} each; decode {(s.DecodeFromEmpty ? "from an empty cache (as llama-bench's tg)" : "after the prompt")}"));
        output.WriteLine();
        output.WriteLine(Inv($"| file | ISA | pp{s.PromptTokens} Tandem | bundle | native fa off ; on | Tandem ÷ native | tg{s.DecodeTokens} Tandem | bundle | native fa off ; on | Tandem ÷ native | decode limit | % of limit Tandem ; native | peak RSS MiB Tandem ; llama-bench |"));
        output.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in s.Rows)
            output.WriteLine($"| {r.File} | {r.Isa} | {F1(r.PrefillTandem)} | {F1(r.PrefillBundle)} | {F1(r.PrefillNativeFaOff)} ; {F1(r.PrefillNativeFaOn)} | {RatioText(r.PrefillRatio)} " +
                             $"| {F1(r.DecodeTandem)} | {F1(r.DecodeBundle)} | {F1(r.DecodeNativeFaOff)} ; {F1(r.DecodeNativeFaOn)} | {RatioText(r.DecodeRatio)} " +
                             $"| {F1(r.DecodeLimitTokPerSec)} | {F0(r.TandemPercentOfLimit)} ; {F0(r.NativePercentOfLimit)} | {Mib(r.TandemPeakRssBytes)} ; {Mib(r.NativePeakRssBytes)} |");
        output.WriteLine();
        output.WriteLine("(tok/s, median over rounds of each round's best repetition; ratio: median over rounds of Tandem ÷ the faster native figure of that round, range in brackets)");
        output.WriteLine("(decode limit: the ISA's read bandwidth ÷ the weight bytes one decode step reads — every layer, the final norm and the output matrix in full, " +
                         "the embedding matrix in full when it is the output matrix (tied) else one row of it, no KV; % of limit: each engine's decode median against it, native at the faster of fa off/on)");
        output.WriteLine("(peak RSS, median over rounds: Tandem's bench process while Tandem ran on that file (the .NET runtime, the mapped weights it read, KV, scratch; reset before each file); " +
                         "llama-bench's whole process (one model load reused by fa off and on and every repetition, the largest context's KV and compute buffers, repacked weights))");
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

    /// <summary>llama-bench's peak resident bytes per file, from the <c>round-N.model.llama-bench.maxrss</c> files (KiB).</summary>
    private static Dictionary<string, List<double>> NativePeakRss(string isaDir)
    {
        var byFile = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        foreach (var path in Directory.GetFiles(isaDir, "round-*.llama-bench.maxrss"))
        {
            string name = Path.GetFileName(path);
            // round-3.smollm-135m-f16.llama-bench.maxrss → smollm-135m-f16.gguf
            string file = name[(name.IndexOf('.') + 1)..^".llama-bench.maxrss".Length] + ".gguf";
            if (long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long kib))
                Values(byFile, file).Add(kib * 1024.0);
        }
        return byFile;
    }

    private static List<double> Values(Dictionary<string, List<double>> map, string key) =>
        map.TryGetValue(key, out var list) ? list : map[key] = [];

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

    private static Ratio? RatioOf(List<double> xs) => MedianOf(xs) is { } m ? new Ratio(m, xs.Min(), xs.Max()) : null;

    private static double? Max(double? a, double? b) => a is null ? b : b is null ? a : Math.Max(a.Value, b.Value);

    private static string F1(double? x) => x is { } v ? Inv($"{v:F1}") : "–";

    private static string F0(double? x) => x is { } v ? Inv($"{v:F0}%") : "–";

    private static string Mib(long? bytes) => bytes is { } b ? Inv($"{b / 1048576.0:F0}") : "–";

    private static string RatioText(Ratio? r) => r is { } x ? Inv($"**{x.Median:F2}** ({x.Min:F2}–{x.Max:F2})") : "–";

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
