using System.Globalization;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;

namespace Tandem.Bench;

/// <summary>
/// Attention alone on one thread: one layer of SmolLM-135M's attention (9 query heads, 3 KV heads of 64) over an F32
/// and an F16 cache, for a prefill (a batch of <c>pp</c> tokens at positions 0..pp-1) and a decode step (one token
/// after <c>ctx</c> cached ones), in milliseconds per layer and nanoseconds per (query, cell) pair, best of several
/// runs in thread CPU time (<see cref="KernelBench"/>'s clock). Over the F16 cache it also times the per-(token, head)
/// computation that the tiles replaced (<see cref="F16AttentionTiles.PerQueryReference"/>) as "before".
/// </summary>
public static class AttentionBench
{
    public static void Run(int pp, int ctx, TextWriter o)
    {
        var config = new ModelConfig
        {
            Architecture = ModelArchitecture.Llama, ArchitectureName = "llama", EmbeddingLength = 576, BlockCount = 1,
            FeedForwardLength = 1536, HeadCount = 9, HeadCountKv = 3, HeadDim = 64, RopeDimensions = 64,
            RopeFreqBase = 10000, RopeFreqScale = 1, RmsNormEpsilon = 1e-5f, ContextLength = 8192, VocabSize = 32,
        };
        int maxContext = Math.Max(pp, ctx + 1), qDim = config.QDim, hd = config.HeadDim;
        string clock = KernelBench.ThreadCpuTime.IsAvailable ? "thread CPU time" : "wall time";
        o.WriteLine($"attention, 1 thread, {config.HeadCount} heads / {config.HeadCountKv} KV heads of {hd}, one layer; prefill of {pp} tokens, decode after {ctx}; best of several runs, {clock}; load average {MachineInfo.LoadAverage}");
        o.WriteLine("| KV | kernel | prefill ms | ns per pair | decode ms | ns per pair |");
        o.WriteLine("|---|---|---:|---:|---:|---:|");
        var rng = new Random(1);
        foreach (var type in new[] { KvElementType.F32, KvElementType.F16 })
        {
            var pool = new KvBlockPool(config, blockCount: 2 * (maxContext + 15) / 16 + 2, blockSize: 16, type);
            for (int i = 0; i < pool.BlockCount * 16 * config.KvDim; i++)
            {
                float k = (float)(rng.NextDouble() * 2 - 1), v = (float)(rng.NextDouble() * 2 - 1);
                if (type == KvElementType.F32) { pool.KeysF32![0][i] = k; pool.ValuesF32![0][i] = v; }
                else { pool.KeysF16![0][i] = (Half)k; pool.ValuesF16![0][i] = (Half)v; }
            }
            var prefillSeq = pool.CreateSequence();
            var decodeSeq = pool.CreateSequence();
            prefillSeq.TryReserve(pp);
            decodeSeq.TryReserve(ctx + 1);
            decodeSeq.Length = ctx;
            var prefill = new ForwardBatch();
            prefill.Add(prefillSeq, new int[pp], wantLogits: true);
            var decode = new ForwardBatch();
            decode.Add(decodeSeq, new int[1], wantLogits: true);
            var q = new float[pp * qDim];
            for (int i = 0; i < q.Length; i++) q[i] = (float)(rng.NextDouble() * 2 - 1);
            var output = new float[pp * qDim];
            var job = new AttentionJob(config, workers: 1, maxContext);
            double prefillPairs = (double)config.HeadCount * pp * (pp + 1) / 2, decodePairs = config.HeadCount * (ctx + 1.0);

            void Tiles(ForwardBatch b)
            {
                job.Set(q, output, b, pool, 0);
                job.Execute(0, job.ItemCount, 0);
            }
            Row(o, type == KvElementType.F32 ? "f32" : "f16", type == KvElementType.F32 ? "per query (ggml's order)" : "tiles",
                () => Tiles(prefill), prefillPairs, () => Tiles(decode), decodePairs);
            if (type != KvElementType.F16) continue;

            float[] scores = new float[maxContext], qh = new float[hd], row = new float[hd];
            void PerQuery(ForwardBatch b, KvSequence seq)
            {
                int[] blocks = seq.Blocks.ToArray();
                for (int t = 0; t < b.TokenCount; t++)
                    for (int h = 0; h < config.HeadCount; h++)
                        F16AttentionTiles.PerQueryReference(q.AsSpan(t * qDim + h * hd, hd), pool.KeysF16![0], pool.ValuesF16![0], blocks, 16,
                            config.KvDim, h / 3 * hd, b.Positions[t] + 1, output.AsSpan(t * qDim + h * hd, hd), scores, qh, row);
            }
            Row(o, "f16", "per query, a TensorPrimitives call per cell (before)", () => PerQuery(prefill, prefillSeq), prefillPairs,
                () => PerQuery(decode, decodeSeq), decodePairs);
        }
    }

    private static void Row(TextWriter o, string kv, string kernel, Action prefill, double prefillPairs, Action decode, double decodePairs)
    {
        double p = KernelBench.Best(prefill, 400), d = KernelBench.Best(decode, 1); // 15 prefills, 400 decode steps
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {kv} | {kernel} | {p * 1e3:F2} | {p * 1e9 / prefillPairs:F2} | {d * 1e3:F3} | {d * 1e9 / decodePairs:F2} |"));
    }
}
