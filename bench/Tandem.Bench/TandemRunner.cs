using System.Diagnostics;
using Tandem.Engine.Gguf;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;

namespace Tandem.Bench;

/// <summary>
/// Times Tandem's engine the way <see cref="LlamaCppRunner"/> times llama.cpp: one prefill of a prompt in a
/// fresh cache, then single-token decode steps after it (batch 1); and batched decode, where every step
/// adds one token to each of B sequences in one forward call. Each figure is taken over
/// <see cref="Repetitions"/> runs after a warm-up.
/// </summary>
public sealed class TandemRunner
{
    public KvElementType KvType { get; init; } = KvElementType.F32;
    public int Repetitions { get; init; } = 3;

    /// <summary>Where the weights are placed at each load (<c>--weights</c>).</summary>
    public WeightPlacement Weights { get; init; } = WeightPlacement.Auto;

    /// <summary>Where the last load placed them (Auto resolved): what the reports record.</summary>
    public WeightPlacement LoadedPlacement { get; private set; }

    private LanguageModel Load(string ggufPath)
    {
        var model = LanguageModel.Load(ggufPath, Weights);
        LoadedPlacement = model.File.Placement;
        return model;
    }

    /// <summary>
    /// Prefill of <paramref name="promptTokens"/> tokens in a fresh cache, then <paramref name="decodeTokens"/>
    /// single-token steps: continuing that sequence, or with <paramref name="decodeFromEmpty"/> in a fresh one
    /// (what llama-bench's tg test times).
    /// </summary>
    public EngineTiming Time(string ggufPath, int threads, int promptTokens, int decodeTokens, bool decodeFromEmpty = false)
    {
        using var model = Load(ggufPath);
        int ctx = promptTokens + decodeTokens + 1;
        using var transformer = new Transformer(model, threads, maxBatch: promptTokens, maxContext: ctx);
        var logits = new float[model.Config.VocabSize];
        var prompt = BenchTokens.Prompt(promptTokens, model.Config.VocabSize);
        int blocks = (ctx + 15) / 16;
        var pool = new KvBlockPool(model.Config, decodeFromEmpty ? 2 * blocks : blocks, 16, KvType);

        var prefill = new double[Repetitions];
        var decode = new double[Repetitions];
        for (int rep = -1; rep < Repetitions; rep++) // rep -1 warms up: JIT, page-in of the mapped weights
        {
            using var seq = pool.CreateSequence();
            long t0 = Stopwatch.GetTimestamp();
            transformer.Forward(prompt, seq, logits);
            double p = Stopwatch.GetElapsedTime(t0).TotalSeconds;

            using var decodeSeq = decodeFromEmpty ? pool.CreateSequence() : null;
            int token = prompt[^1];
            int steps = rep < 0 ? Math.Min(4, decodeTokens) : decodeTokens;
            long t1 = Stopwatch.GetTimestamp();
            for (int i = 0; i < steps; i++)
            {
                token = BenchTokens.Next(token, model.Config.VocabSize);
                transformer.Forward([token], decodeSeq ?? seq, logits);
            }
            double d = Stopwatch.GetElapsedTime(t1).TotalSeconds;
            if (rep >= 0) { prefill[rep] = promptTokens / p; decode[rep] = decodeTokens / d; }
        }
        return new EngineTiming(prefill, decode);
    }

    /// <summary>Tokens per second over all sequences when <paramref name="batch"/> sequences decode together.</summary>
    public double DecodeBatchTokPerSec(string ggufPath, int threads, int batch, int contextTokens, int steps)
    {
        using var model = Load(ggufPath);
        int vocab = model.Config.VocabSize;
        int ctx = contextTokens + steps + 8;
        using var transformer = new Transformer(model, threads, maxBatch: Math.Max(batch, contextTokens), maxContext: ctx);
        var pool = new KvBlockPool(model.Config, batch * ((ctx + 15) / 16), 16, KvType);
        var logits = new float[batch * vocab];
        var fb = new ForwardBatch();

        // Every sequence holds the same context (the bench's prompt): prefilled once, then copied as KV into each
        // sequence (bit-identical to prefilling each, by batch invariance), so that B = 64 costs one 128-token
        // prefill instead of 64 and a profile of this command shows the decode steps, not the prefills.
        byte[] context;
        using (var first = pool.CreateSequence())
        {
            transformer.Forward(BenchTokens.Prompt(contextTokens, vocab), first, logits.AsSpan(0, vocab));
            context = KvTransfer.Export(first, model.Fingerprint);
        }

        double total = 0;
        for (int rep = -1; rep < Repetitions; rep++)
        {
            var seqs = new KvSequence[batch];
            for (int s = 0; s < batch; s++)
                seqs[s] = KvTransfer.Import(pool, model.Fingerprint, context);
            int n = rep < 0 ? 2 : steps;
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < n; i++)
            {
                fb.Clear();
                for (int s = 0; s < batch; s++) fb.Add(seqs[s], [BenchTokens.Next(i * batch + s, vocab)], wantLogits: true);
                transformer.Forward(fb, logits);
            }
            double t = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            if (rep >= 0) total += t;
            foreach (var s in seqs) s.Dispose();
        }
        return (double)batch * steps * Repetitions / total;
    }
}
