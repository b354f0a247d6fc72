using System.Diagnostics;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Serving.Instances;

namespace Tandem.Planning.Profiles;

/// <summary>What <see cref="EngineProfiler"/> measures and how much.</summary>
public sealed record ProfilerOptions
{
    public required string ModelPath { get; init; }
    /// <summary>Threads per instance to profile (each a <see cref="ConfigLatency"/>).</summary>
    public required IReadOnlyList<int> Cores { get; init; }
    /// <summary>KV element type served (the server's --kv-type): attention reads it and transfers move it.</summary>
    public KvElementType KvType { get; init; } = KvElementType.F16;
    /// <summary>Most prompt tokens in one prefill step (the server's --prefill-target, L_m).</summary>
    public int MaxBatchTokens { get; init; } = 512;
    /// <summary>A few small shapes, one repeat: seconds instead of minutes (tests, smoke runs).</summary>
    public bool Quick { get; init; }
    /// <summary>Timed repeats per shape; the fastest is kept (on a shared machine other work only ever adds time).</summary>
    public int Repeats { get; init; } = 2;
    /// <summary>Pin the threads to cores 0..n-1 as the server pins an instance's threads.</summary>
    public bool Pin { get; init; } = true;
    /// <summary>
    /// Time steps by the process's CPU time divided by the threads instead of the wall clock: on a machine shared with
    /// other work it leaves out the time the OS gave to other processes (the team hands out work items dynamically, so a
    /// descheduled thread leaves little for the other to wait on). The wall clock is right on a quiet machine.
    /// </summary>
    public bool CpuTime { get; init; }
}

/// <summary>
/// Times the real engine (a <see cref="Transformer"/> with a thread team of each core count, a paged KV pool, batched
/// forward calls) over prefill batches of different Σl and Σl² and decode steps over batch sizes and contexts, and
/// fits DistServe's models to the medians with their held-out error. Decode steps run on KV copied from one
/// prefilled sequence (its contents do not change the time), so long contexts cost one prefill, not one per point.
/// </summary>
public static class EngineProfiler
{
    public static LatencyProfile Run(ProfilerOptions o, Action<string>? progress = null)
    {
        if (o.Cores.Count == 0 || o.Cores.Any(c => c < 1)) throw new ArgumentException("--cores needs one or more positive core counts");
        if (o.Repeats < 1) throw new ArgumentException($"--repeats must be at least 1, got {o.Repeats}");
        using var model = LanguageModel.Load(o.ModelPath);
        var cfg = model.Config;
        int maxTokens = Math.Min(o.MaxBatchTokens, cfg.ContextLength);
        int[] totals = (o.Quick ? new[] { 8, 16, 32, 64 } : new[] { 32, 64, 128, 256, 384, 512 }).Where(t => t <= maxTokens).ToArray();
        int[] prompts = o.Quick ? [1, 2] : [1, 2, 4];
        int[] batches = o.Quick ? [1, 2, 4] : [1, 2, 4, 8, 16, 32];
        int[] contexts = (o.Quick ? new[] { 16, 64 } : new[] { 64, 256, 512, 1024 }).Where(c => c < cfg.ContextLength).ToArray();
        if (totals.Length == 0 || contexts.Length == 0) throw new ArgumentException($"{o.ModelPath}: context of {cfg.ContextLength} tokens is too short to profile");
        int repeats = o.Quick ? 1 : o.Repeats;
        int maxBatch = Math.Max(totals.Max(), batches.Max());
        int maxContext = contexts.Max() + 8;
        int blocks = (batches.Max() + prompts.Max() + 2) * ((maxContext + 15) / 16 + 1);
        var pool = new KvBlockPool(cfg, blocks, 16, o.KvType);
        var configs = new List<ConfigLatency>();

        foreach (int cores in o.Cores)
        {
            if (o.Pin) CpuAffinity.TryPinCurrentThread(0);
            using var transformer = new Transformer(model, cores, maxBatch, maxContext, worker => { if (o.Pin) CpuAffinity.TryPinCurrentThread(worker % Math.Max(1, cores)); });
            var logits = new float[maxBatch * cfg.VocabSize];
            var batch = new ForwardBatch();
            var rng = new Random(1);
            using var process = System.Diagnostics.Process.GetCurrentProcess();
            int threads = cores;
            double Clock()
            {
                if (!o.CpuTime) return Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;
                process.Refresh();
                return process.TotalProcessorTime.TotalSeconds / threads;
            }
            int Token() => rng.Next(1, cfg.VocabSize);

            // Warm-up: the first forward call touches every buffer and JIT-compiles the kernels; none of it is timed.
            {
                var warm = Reserve(pool.CreateSequence(), Math.Min(16, maxBatch));
                batch.Clear();
                batch.Add(warm, Enumerable.Range(0, Math.Min(16, maxBatch)).Select(_ => Token()).ToArray(), wantLogits: true);
                transformer.Forward(batch, logits);
                warm.Release();
            }

            var prefill = new List<TimedPoint>();
            int shape = 0, shapes = totals.Length * prompts.Length + batches.Length * contexts.Length;
            foreach (int total in totals)
                foreach (int k in prompts)
                {
                    if (total / k < 1) continue;
                    var lengths = Enumerable.Range(0, k).Select(i => total / k + (i < total % k ? 1 : 0)).ToArray();
                    var tokens = lengths.Select(l => Enumerable.Range(0, l).Select(_ => Token()).ToArray()).ToArray();
                    double seconds = Fastest(repeats, () =>
                    {
                        var seqs = lengths.Select(l => Reserve(pool.CreateSequence(), l)).ToArray();
                        batch.Clear();
                        for (int i = 0; i < k; i++) batch.Add(seqs[i], tokens[i], wantLogits: true);
                        double start = Clock();
                        transformer.Forward(batch, logits);
                        double t = Clock() - start;
                        foreach (var s in seqs) s.Release();
                        return t;
                    });
                    prefill.Add(new TimedPoint(total, lengths.Sum(l => (double)l * l), seconds));
                    progress?.Invoke($"  {cores} core(s) [{++shape}/{shapes}] prefill {k} prompt(s), {total} tokens: {seconds * 1000:F1} ms");
                }

            // One long sequence, prefilled once (in steps of the batch limit); decode points copy and cut it.
            var basis = pool.CreateSequence();
            for (int done = 0; done < maxContext - 8;)
            {
                int n = Math.Min(maxBatch, maxContext - 8 - done);
                Reserve(basis, n);
                batch.Clear();
                batch.Add(basis, Enumerable.Range(0, n).Select(_ => Token()).ToArray(), wantLogits: true);
                transformer.Forward(batch, logits);
                done += n;
            }
            byte[] payload = KvTransfer.Export(basis, model.Fingerprint);
            basis.Release();

            var decode = new List<TimedPoint>();
            foreach (int b in batches)
                foreach (int c in contexts)
                {
                    var seqs = new KvSequence[b];
                    for (int i = 0; i < b; i++)
                    {
                        seqs[i] = KvTransfer.Import(pool, model.Fingerprint, payload);
                        seqs[i].Truncate(c);
                    }
                    var one = new int[b];
                    double seconds = Fastest(repeats, () =>
                    {
                        batch.Clear();
                        for (int i = 0; i < b; i++)
                        {
                            seqs[i].Truncate(c);
                            Reserve(seqs[i], 1);
                            one[i] = Token();
                            batch.Add(seqs[i], one.AsSpan(i, 1), wantLogits: true);
                        }
                        double start = Clock();
                        transformer.Forward(batch, logits);
                        return Clock() - start;
                    });
                    foreach (var s in seqs) s.Release();
                    decode.Add(new TimedPoint((double)b * (c + 1), b, seconds));
                    progress?.Invoke($"  {cores} core(s) [{++shape}/{shapes}] decode batch {b}, context {c}: {seconds * 1000:F1} ms");
                }

            var (p, pErr) = LeastSquaresFit.Fit(prefill);
            var (d, dErr) = LeastSquaresFit.FitDecode(decode);
            configs.Add(new ConfigLatency { Tp = cores, Prefill = p, Decode = d, PrefillFit = pErr, DecodeFit = dErr });
            progress?.Invoke($"{cores} core(s): prefill fit error mean {pErr.MeanRelativeError:P1} max {pErr.MaxRelativeError:P1}, " +
                             $"decode mean {dErr.MeanRelativeError:P1} max {dErr.MaxRelativeError:P1} ({pErr.HeldOutPoints}+{dErr.HeldOutPoints} held-out points)");
        }

        return new LatencyProfile
        {
            Model = Path.GetFileName(o.ModelPath),
            Device = $"{Environment.ProcessorCount} CPU cores here, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}; " +
                     $"{(o.CpuTime ? "CPU time per thread" : "wall clock")}; load average {LoadAverage()} after profiling",
            KvBytesPerToken = KvBlockPool.BytesPerToken(cfg, o.KvType),
            Layers = cfg.BlockCount,
            Configs = configs,
        };
    }

    private static KvSequence Reserve(KvSequence s, int more) =>
        s.TryReserve(more) ? s : throw new InvalidOperationException("the profiler's KV pool is too small for its own shapes");

    private static double Fastest(int repeats, Func<double> run)
    {
        double best = double.PositiveInfinity;
        for (int i = 0; i < repeats; i++) best = Math.Min(best, run());
        return best;
    }

    /// <summary>The 1-minute load average (Linux), so a profile records how busy the machine was; "unknown" elsewhere.</summary>
    public static string LoadAverage()
    {
        try
        {
            return File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
