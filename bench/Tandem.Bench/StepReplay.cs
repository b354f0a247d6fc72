using System.Diagnostics;
using System.Globalization;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Serving.Diagnostics;
using Tandem.Serving.Instances;

namespace Tandem.Bench;

/// <summary>
/// <c>Tandem.Bench steps --replay FILE --model M</c>: rebuilds the batches a server ran (its <c>--step-log</c>) and times
/// the engine's forward pass alone on them, with the instance's thread count on its cores, so that each server step can
/// be set against the same batch without the server around it. Steps are grouped by composition (decode sequences and
/// their context each, rounded to <c>ctxBucket</c>; prompt chunks, their tokens rounded to 16 and context); each bucket's
/// replayed batch is its recorded step closest to the bucket's mean, timed <c>reps</c> times after a warm-up in each of
/// <c>passes</c> passes over all buckets: the server's median covers minutes of steps, and a bench figure taken in one
/// burst of a few tens of milliseconds carries whatever the machine did in that moment (the pass medians and their spread
/// say how much). The KV the batch attends to is real (a prefill of the longest context, copied and cut to each length);
/// its values do not change the time.
/// </summary>
public static class StepReplay
{
    public sealed record Settings(string LogPath, string ModelPath, int Repetitions = 5, int CtxBucket = 32, int MaxBuckets = 48,
        bool Pin = true, string? Instance = null, int Passes = 3);

    private sealed record Key(int DecodeSeqs, int DecodeCtx, int Chunks, int PrefillTokens, int PrefillCtx);

    public static int Run(Settings s, TextWriter o, string? jsonPath)
    {
        var (instances, steps, lost) = Read(s.LogPath);
        string loadStart = MachineInfo.LoadAverage, started = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        o.WriteLine(Inv($"step replay of {s.LogPath} on {Path.GetFileName(s.ModelPath)}: CPU {MachineInfo.CpuModel}, .NET {MachineInfo.DotnetIsa}, {s.Repetitions} repetitions in each of {s.Passes} passes, load average {loadStart}"));
        using var model = LanguageModel.Load(s.ModelPath);
        if (ModelMismatch(instances, s.LogPath, s.ModelPath, model.Fingerprint) is { } mismatch) throw new StepReplayModelException(mismatch);
        if (instances.All(i => i.Model is null))
            o.WriteLine($"warning: {s.LogPath} does not say which model the server ran (written before step logs recorded it): the ratios mean something only if it ran {Path.GetFileName(s.ModelPath)}");
        var reports = new List<StepReplayReport.Instance>();
        var allRatios = new List<StepRatio>();
        foreach (var inst in instances)
        {
            if (s.Instance is { } only && inst.Instance != only) continue;
            var ran = steps.GetValueOrDefault(inst.Instance, []).Where(r => r.DecodeSequences + r.PrefillChunks > 0).ToList();
            if (ran.Count == 0) { o.WriteLine($"{inst.Instance}: no steps ran the model"); continue; }
            var others = steps.Where(p => p.Key != inst.Instance).Select(p => p.Value.Where(r => r.Forward > 0).OrderBy(r => r.ForwardAt).ToArray()).ToList();
            var report = ReplayInstance(model, inst, ran, others, lost.GetValueOrDefault(inst.Instance), s, o, allRatios);
            reports.Add(report);
        }
        var overall = RatiosOf(allRatios);
        o.WriteLine(Inv($"overall: {Describe(overall)}; load average {MachineInfo.LoadAverage}"));
        if (jsonPath != null)
            new StepReplayReport(started, MachineInfo.CpuModel, MachineInfo.CpuFlags, MachineInfo.DotnetIsa, loadStart, MachineInfo.LoadAverage,
                s.LogPath, Path.GetFileName(s.ModelPath), s.Repetitions, s.Passes, reports, overall).Write(jsonPath);
        return 0;
    }

    /// <summary>The instances of a step log, each one's steps in order, and the steps each lost.</summary>
    internal static (List<StepLogInstance> Instances, Dictionary<string, List<StepRecord>> Steps, Dictionary<string, long> Lost) Read(string path)
    {
        var instances = new List<StepLogInstance>();
        var steps = new Dictionary<string, List<StepRecord>>();
        var lost = new Dictionary<string, long>();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            StepLogLine l;
            try
            {
                l = StepLogJson.Parse(line);
            }
            catch (FormatException e)
            {
                throw new FormatException($"{path}:{lineNumber}: {e.Message}", e);
            }
            switch (l.Type)
            {
                case "instance": instances.Add(l.Instance!); steps[l.Instance!.Instance] = []; break;
                case "step":
                    if (!steps.TryGetValue(l.InstanceName!, out var list))
                        throw new FormatException($"{path}:{lineNumber}: a step of {l.InstanceName}, which no \"instance\" line named before");
                    list.Add(l.Step);
                    break;
                case "lost": lost[l.InstanceName!] = lost.GetValueOrDefault(l.InstanceName!) + l.Lost; break;
            }
        }
        if (instances.Count == 0) throw new FormatException($"{path}: no \"instance\" line: not a step log (tandem serve --step-log)");
        return (instances, steps, lost);
    }

    /// <summary>
    /// Why <paramref name="modelPath"/> is not the model the log's instances ran (naming both files and both fingerprints),
    /// or null when it is, or when the log does not say.
    /// </summary>
    internal static string? ModelMismatch(IReadOnlyList<StepLogInstance> instances, string logPath, string modelPath, ModelFingerprint fingerprint)
    {
        string replayed = fingerprint.ToString();
        foreach (var inst in instances)
        {
            if (inst.Model is not { } ran || string.Equals(ran.Fingerprint, replayed, StringComparison.OrdinalIgnoreCase)) continue;
            return $"{logPath} was recorded by a server running {(ran.File.Length > 0 ? ran.File : "another model")} (fingerprint {ran.Fingerprint}, instance {inst.Instance}), " +
                   $"but --model {modelPath} is another model (fingerprint {replayed}): its batches timed on another model give meaningless ratios; " +
                   "replay with the file the server ran";
        }
        return null;
    }

    /// <summary>One server step against the bench's median for its batch; <paramref name="Beside"/>: the share of its forward pass during which another instance ran one.</summary>
    private readonly record struct StepRatio(string Kind, double Server, double Bench, double Beside);

    private static StepReplayReport.Instance ReplayInstance(LanguageModel model, StepLogInstance inst, List<StepRecord> ran, List<StepRecord[]> others,
        long lost, Settings s, TextWriter o, List<StepRatio> allRatios)
    {
        var groups = ran.GroupBy(r => KeyOf(r, s.CtxBucket)).OrderByDescending(g => g.Count()).ToList();
        var replayed = groups.Take(s.MaxBuckets).ToList();
        var batches = replayed.Select(g => Representative(g.ToList())).ToList();
        o.WriteLine(Inv($"{inst.Instance} ({inst.Role}, {inst.Threads} thread(s) on cores [{string.Join(',', inst.Cores)}], KV {inst.KvType}): {ran.Count} steps in {groups.Count} compositions, replaying the {replayed.Count} commonest ({replayed.Sum(g => g.Count())} steps)"));

        int maxCtx = Math.Max(1, batches.Max(b => Enumerable.Range(0, b.Entries).Max(b.Context)));
        int maxTokens = batches.Max(b => b.TotalTokens);
        int maxEnd = batches.Max(b => Enumerable.Range(0, b.Entries).Max(i => b.Context(i) + b.Tokens(i)));
        int blockSize = inst.BlockSize;
        int templateBlocks = (maxCtx + blockSize - 1) / blockSize;
        var pool = new KvBlockPool(model.Config, batches.Max(b => b.Blocks(blockSize)) + 2 * templateBlocks + 2, blockSize, inst.KvType);
        if (s.Pin && inst.Cores.Count > 0) Pin(inst.Cores[0]);
        using var transformer = new Transformer(model, inst.Threads, maxBatch: Math.Max(512, Math.Max(maxTokens, maxCtx)), maxContext: Math.Max(maxEnd, maxCtx) + 1,
            onWorkerStart: s.Pin && inst.Cores.Count > 0 ? w => Pin(inst.Cores[w % inst.Cores.Count]) : null);
        int vocab = model.Config.VocabSize;
        byte[] template;
        using (var seq = pool.CreateSequence())
        {
            transformer.Forward(BenchTokens.Prompt(maxCtx, vocab), seq, new float[vocab]);
            template = KvTransfer.Export(seq, model.Fingerprint);
        }

        // Past JIT tiering before anything is timed (the server's steps ran warm, but for its first few): the commonest
        // batch of each kind runs for a second at least, since prefill, decode and mixed steps take different kernels.
        foreach (var first in batches.DistinctBy(b => (b.DecodeContexts.Count > 0, b.Chunks.Count > 0)))
        {
            long until = Stopwatch.GetTimestamp() + Stopwatch.Frequency;
            do Time(transformer, pool, model, template, first, 3);
            while (Stopwatch.GetTimestamp() < until);
        }

        // Every bucket once per pass, so that what the machine does meanwhile falls on all of them alike and on each
        // several times, rather than on one bucket's back-to-back repetitions.
        var walls = replayed.Select(_ => new List<double>()).ToArray();
        var cpus = replayed.Select(_ => new List<double>()).ToArray();
        var passMedians = replayed.Select(_ => new List<double>()).ToArray();
        for (int pass = 0; pass < s.Passes; pass++)
            for (int i = 0; i < replayed.Count; i++)
            {
                var (w, c) = Time(transformer, pool, model, template, batches[i], s.Repetitions);
                walls[i].AddRange(w);
                cpus[i].AddRange(c);
                passMedians[i].Add(Median(w));
            }

        var buckets = new List<StepReplayReport.Bucket>();
        var ratios = new List<StepRatio>();
        o.WriteLine("| kind | decode seqs | ctx/seq | chunks | prompt tokens | prompt ctx | steps | server ms | server CPU ms | run-queue ms | bench ms | bench CPU ms | bench pass spread | server ÷ bench |");
        o.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (int i = 0; i < replayed.Count; i++)
        {
            var members = replayed[i].ToList();
            var batch = batches[i];
            var (wall, cpu) = (walls[i], cpus[i]);
            double bench = Median(wall), server = Median(members.Select(m => m.Forward));
            foreach (var m in members) ratios.Add(new StepRatio(m.Kind, m.Forward, bench, Beside(m, others)));
            var k = replayed[i].Key;
            var bucket = new StepReplayReport.Bucket(members[0].Kind, k.DecodeSeqs, k.DecodeCtx, k.Chunks, k.PrefillTokens, k.PrefillCtx, members.Count,
                server * 1e3, Median(members.Select(m => m.ForwardCpu)) * 1e3, Median(members.Select(m => m.ForwardRunQueue)) * 1e3,
                bench * 1e3, Median(cpu) * 1e3, server / bench,
                new StepReplayReport.ReplayedBatch(batch.DecodeContexts, batch.Chunks.Select(c => new[] { c.Start, c.Tokens, c.SamplesToken ? 1 : 0 }).ToArray()),
                wall.Select(w => w * 1e3).ToArray(), passMedians[i].Select(m => m * 1e3).ToArray(), passMedians[i].Max() / passMedians[i].Min());
            buckets.Add(bucket);
            o.WriteLine(Inv($"| {bucket.Kind} | {k.DecodeSeqs} | {k.DecodeCtx} | {k.Chunks} | {k.PrefillTokens} | {k.PrefillCtx} | {members.Count} | {bucket.ServerForwardMedianMs:F2} | {bucket.ServerCpuMedianMs:F2} | {bucket.ServerRunQueueMedianMs:F2} | {bucket.BenchForwardMedianMs:F2} | {bucket.BenchCpuMedianMs:F2} | {bucket.BenchPassSpread:F2} | {bucket.Ratio:F2} |"));
        }
        allRatios.AddRange(ratios);
        var r = RatiosOf(ratios);
        var facts = Facts(ran);
        o.WriteLine(Inv($"{inst.Instance}: {Describe(r)}; loop: gap {facts.GapMedianMs:F2} ms, before forward {facts.PrepareMedianMs:F2} ms, after {facts.AfterForwardMedianMs:F2} ms (medians); run queue {facts.RunQueueShare:P1} and off-CPU {facts.OffCpuShare:P1} of forward time; GC in {facts.StepsWithGcShare:P1} of steps ({facts.GcPauseMs:F1} ms paused); {facts.AllocatedBytesMedian:F0} bytes allocated per step (median); {facts.Preemptions} preemptions; {facts.ToPrefill} prompts handed back to a prefill instance"));
        return new StepReplayReport.Instance(inst.Instance, inst.Role, inst.Cores, inst.Threads, inst.KvType == KvElementType.F16 ? "f16" : "f32",
            ran.Count, ratios.Count, lost, facts, r, buckets);
    }

    private static Key KeyOf(StepRecord r, int ctxBucket) => new(
        r.DecodeSequences,
        r.DecodeSequences == 0 ? 0 : Round(r.DecodeContext / (double)r.DecodeSequences, ctxBucket),
        r.PrefillChunks,
        r.PrefillTokens <= 16 ? r.PrefillTokens : Round(r.PrefillTokens, 16),
        r.PrefillChunks == 0 ? 0 : Round(r.PrefillContext / (double)r.PrefillChunks, ctxBucket));

    private static int Round(double value, int step) => (int)Math.Round(value / step, MidpointRounding.AwayFromZero) * step;

    /// <summary>The bucket's recorded step closest to its mean composition, as a batch.</summary>
    private static StepBatch Representative(List<StepRecord> members)
    {
        double decodeCtx = members.Average(m => (double)m.DecodeContext), prefill = members.Average(m => (double)m.PrefillTokens),
            prefillCtx = members.Average(m => (double)m.PrefillContext);
        return StepBatch.Of(members.MinBy(m => Math.Abs(m.DecodeContext - decodeCtx) + Math.Abs(m.PrefillTokens - prefill) + Math.Abs(m.PrefillContext - prefillCtx)));
    }

    /// <summary>Times the forward pass on <paramref name="batch"/>: a warm-up, then <paramref name="reps"/> runs; wall and loop-thread CPU seconds.</summary>
    private static (double[] Wall, double[] Cpu) Time(Transformer transformer, KvBlockPool pool, LanguageModel model, byte[] template, StepBatch batch, int reps)
    {
        int vocab = model.Config.VocabSize;
        var seqs = new KvSequence[batch.Entries];
        try
        {
            for (int i = 0; i < seqs.Length; i++)
            {
                if (batch.Context(i) == 0) { seqs[i] = pool.CreateSequence(); continue; }
                seqs[i] = KvTransfer.Import(pool, model.Fingerprint, template);
                seqs[i].Truncate(batch.Context(i));
            }
            var tokens = Enumerable.Range(0, batch.Entries).Select(i => BenchTokens.Prompt(batch.Tokens(i), vocab)).ToArray();
            var logits = new float[Math.Max(1, batch.LogitRows) * vocab];
            var fb = new ForwardBatch();
            var wall = new double[reps];
            var cpu = new double[reps];
            for (int rep = -1; rep < reps; rep++)
            {
                batch.Fill(fb, seqs, tokens);
                double c0 = KernelBench.ThreadCpuTime.Seconds();
                long t0 = Stopwatch.GetTimestamp();
                transformer.Forward(fb, logits);
                double w = Stopwatch.GetElapsedTime(t0).TotalSeconds, c = KernelBench.ThreadCpuTime.Seconds() - c0;
                if (rep >= 0) { wall[rep] = w; cpu[rep] = c; }
                for (int i = 0; i < seqs.Length; i++) seqs[i].Truncate(batch.Context(i));
            }
            return (wall, cpu);
        }
        finally
        {
            foreach (var q in seqs) q?.Release();
        }
    }

    private static StepReplayReport.Ratios RatiosOf(List<StepRatio> steps)
    {
        var ratios = steps.Select(s => s.Server / s.Bench).ToArray();
        var byKind = steps.GroupBy(s => s.Kind).OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => Median(g.Select(s => s.Server / s.Bench)));
        var alone = steps.Where(s => s.Beside < 0.1).Select(s => s.Server / s.Bench).ToArray();
        var beside = steps.Where(s => s.Beside > 0.9).Select(s => s.Server / s.Bench).ToArray();
        return new(steps.Count, Median(ratios), Percentile(ratios, 0.9), steps.Sum(s => s.Server) / steps.Sum(s => s.Bench), byKind,
            alone.Length, Median(alone), beside.Length, Median(beside));
    }

    private static string Describe(StepReplayReport.Ratios r) => Inv(
        $"server ÷ bench median {r.Median:F2} over {r.Steps} steps (p90 {r.P90:F2}, time-weighted {r.TimeWeighted:F2}; {string.Join(", ", r.MedianByKind.Select(k => Inv($"{k.Key} {k.Value:F2}")))}; alone {r.MedianAlone:F2} over {r.StepsAlone}, beside another instance's forward {r.MedianBeside:F2} over {r.StepsBeside})");

    /// <summary>The share of <paramref name="step"/>'s forward pass during which other instances ran theirs (each list sorted, none overlapping within one).</summary>
    private static double Beside(in StepRecord step, List<StepRecord[]> others)
    {
        double from = step.ForwardAt, to = step.ForwardAt + step.Forward, overlap = 0;
        if (!(step.Forward > 0) || !double.IsFinite(from)) return double.NaN;
        foreach (var list in others)
        {
            // The first of the other instance's forwards that ends after this one starts: ends grow with starts.
            int lo = 0, hi = list.Length;
            while (lo < hi)
            {
                int mid = (lo + hi) / 2;
                if (list[mid].ForwardAt + list[mid].Forward <= from) lo = mid + 1; else hi = mid;
            }
            for (int i = lo; i < list.Length && list[i].ForwardAt < to; i++)
                overlap += Math.Min(to, list[i].ForwardAt + list[i].Forward) - Math.Max(from, list[i].ForwardAt);
        }
        return Math.Min(1, overlap / step.Forward);
    }

    private static StepReplayReport.ServerFacts Facts(List<StepRecord> ran)
    {
        double forward = ran.Sum(r => r.Forward);
        var runQueue = ran.Where(r => double.IsFinite(r.ForwardRunQueue)).ToList();
        var cpu = ran.Where(r => double.IsFinite(r.ForwardCpu)).ToList();
        return new StepReplayReport.ServerFacts(
            Median(ran.Where(r => double.IsFinite(r.Gap)).Select(r => r.Gap)) * 1e3,
            Median(ran.Select(r => r.Prepare)) * 1e3,
            Median(ran.Select(r => r.Total - r.Prepare - r.Forward)) * 1e3,
            Median(ran.Select(r => r.Forward)) * 1e3,
            runQueue.Count == 0 ? double.NaN : runQueue.Sum(r => r.ForwardRunQueue) / runQueue.Sum(r => r.Forward),
            cpu.Count == 0 ? double.NaN : cpu.Sum(r => r.Forward - r.ForwardCpu) / cpu.Sum(r => r.Forward),
            ran.Count(r => r.Gen0Collections + r.Gen1Collections + r.Gen2Collections > 0) / (double)ran.Count,
            ran.Sum(r => r.GcPause) * 1e3,
            Median(ran.Select(r => (double)r.AllocatedBytes)),
            ran.Sum(r => (long)r.Preempted),
            ran.Sum(r => (long)r.Pulled),
            ran.Sum(r => (long)r.ToPrefill));
    }

    private static void Pin(int core)
    {
        if (CpuAffinity.TryPinCurrentThread(core) is { } error) Console.Error.WriteLine($"warning: not pinned to core {core}: {error}");
    }

    internal static double Median(IEnumerable<double> values) => Percentile(values.Where(double.IsFinite).ToArray(), 0.5);

    private static double Percentile(double[] values, double p)
    {
        if (values.Length == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        double at = p * (sorted.Length - 1);
        int lo = (int)Math.Floor(at), hi = (int)Math.Ceiling(at);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
