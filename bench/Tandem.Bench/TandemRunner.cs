using System.Diagnostics;
using Tandem.Engine.Model;

namespace Tandem.Bench;

/// <summary>
/// Times Tandem's engine the way <see cref="LlamaCppRunner"/> times llama.cpp: one prefill of a prompt of
/// fixed token ids in a fresh cache, then greedy-free decode of single tokens (batch 1) after it.
/// </summary>
public static class TandemRunner
{
    public static (double PrefillTokPerSec, double DecodeTokPerSec) Time(string ggufPath, int threads, int promptTokens, int decodeTokens)
    {
        using var model = LanguageModel.Load(ggufPath);
        using var transformer = new Transformer(model, threads, maxBatch: promptTokens, maxContext: promptTokens + decodeTokens + 1);
        var logits = new float[model.Config.VocabSize];
        var prompt = BenchTokens.Prompt(promptTokens, model.Config.VocabSize);

        // Warm-up: JIT, page-in of the mapped weights.
        using var warm = transformer.CreateCache(promptTokens + decodeTokens + 1);
        transformer.Forward(prompt.AsSpan(0, Math.Min(32, promptTokens)), warm, logits);
        transformer.Forward([prompt[0]], warm, logits);

        using var cache = transformer.CreateCache(promptTokens + decodeTokens + 1);
        long t0 = Stopwatch.GetTimestamp();
        transformer.Forward(prompt, cache, logits);
        double prefill = Stopwatch.GetElapsedTime(t0).TotalSeconds;

        int token = prompt[^1];
        long t1 = Stopwatch.GetTimestamp();
        for (int i = 0; i < decodeTokens; i++)
        {
            transformer.Forward([token], cache, logits);
            token = BenchTokens.Next(token, model.Config.VocabSize);
        }
        double decode = Stopwatch.GetElapsedTime(t1).TotalSeconds;
        return (promptTokens / prefill, decodeTokens / decode);
    }
}
