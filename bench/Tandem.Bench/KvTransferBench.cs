using System.Diagnostics;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;

namespace Tandem.Bench;

/// <summary>
/// KV export/import cost: payload bytes per token and throughput (GB/s) of exporting a prefilled sequence
/// into memory and importing it into another pool, as the prefill → decode migration does in process.
/// </summary>
public static class KvTransferBench
{
    public static void Run(string ggufPath, int threads, int tokens, int reps, TextWriter o)
    {
        using var model = LanguageModel.Load(ggufPath);
        var fingerprint = model.Fingerprint;
        using var transformer = new Transformer(model, threads, maxBatch: Math.Min(512, tokens), maxContext: tokens);
        var logits = new float[model.Config.VocabSize];
        o.WriteLine($"{Path.GetFileName(ggufPath)}: {tokens}-token sequence, {reps} repetitions");
        o.WriteLine("| KV type | bytes/token | payload | export GB/s | import GB/s |");
        o.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var type in new[] { KvElementType.F32, KvElementType.F16 })
        {
            var source = new KvBlockPool(model.Config, (tokens + 15) / 16, 16, type);
            var target = new KvBlockPool(model.Config, (tokens + 15) / 16 + 1, 16, type);
            using var seq = source.CreateSequence();
            transformer.Forward(BenchTokens.Prompt(tokens, model.Config.VocabSize), seq, logits);
            var header = KvTransfer.HeaderFor(seq, fingerprint);
            var buffer = new MemoryStream(checked((int)header.PayloadBytes));
            double export = 0, import = 0;
            for (int r = -1; r < reps; r++)
            {
                buffer.Position = 0;
                long t0 = Stopwatch.GetTimestamp();
                KvTransfer.Export(seq, fingerprint, buffer);
                double e = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                buffer.Position = 0;
                long t1 = Stopwatch.GetTimestamp();
                using (KvTransfer.Import(target, fingerprint, buffer)) { }
                double i = Stopwatch.GetElapsedTime(t1).TotalSeconds;
                if (r >= 0) { export += e; import += i; }
            }
            double gb = header.PayloadBytes * (double)reps / 1e9;
            o.WriteLine(FormattableString.Invariant(
                $"| {type} | {header.BytesPerToken} | {header.PayloadBytes / 1048576.0:F1} MiB | {gb / export:F2} | {gb / import:F2} |"));
        }
    }
}
