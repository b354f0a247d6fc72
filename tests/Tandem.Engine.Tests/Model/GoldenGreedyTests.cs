using Tandem.Engine.Model;

namespace Tandem.Engine.Tests.Model;

/// <summary>
/// The llama2.c-style golden test: greedy continuations of the shared models must equal the token ids
/// llama.cpp produced (../shared/models/README.md), starting from llama.cpp's own prompt ids.
/// The README's ids come from LLamaSharp's defaults (flash attention on, F16 KV). For tinyllama's
/// "Once upon a time" that run takes the other side of a near-tie at step 10 (top-2 logits 0.004 apart);
/// the ids below for that case are llama.cpp's with flash attention off and F32 KV, the computation Tandem
/// performs (pinned in Oracle/LlamaCppOracleTests.cs, where both variants are checked against llama.cpp).
/// </summary>
public class GoldenGreedyTests
{
    [Theory]
    [InlineData("stories260K.gguf", new[] { 1, 403, 407, 261, 378 },
        new[] { 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394 })]
    [InlineData("stories260K.gguf", new[] { 1, 317, 269, 368, 302, 263, 377, 267, 265, 282, 295, 433 },
        new[] { 426, 342, 394, 261, 370, 268, 414, 444, 335, 261, 370, 268, 414, 444, 426, 342, 391, 266, 267, 337, 335, 312, 426, 342, 391, 266, 267, 337, 335, 265, 268, 414 })]
    [InlineData("tinyllama-v0-q4_0.gguf", new[] { 1, 4612, 2619, 260, 647 },
        new[] { 31844, 635, 393, 260, 1496, 2789, 3557, 21075, 31843, 1100, 602, 260, 1421, 31844, 2729, 3430, 31843, 1100, 4838, 289, 826, 351, 600, 3430, 484, 1124, 31843, 1100, 637, 1261, 291, 5869 })]
    [InlineData("tinyllama-v0-q4_0.gguf", new[] { 1, 21075, 291, 3093, 2070, 289, 266, 3653 },
        new[] { 351, 10069, 31843, 1161, 2815, 260, 1421, 5551, 351, 260, 5551, 31843, 347, 5551, 602, 260, 1349, 287, 6157, 31843, 21075, 291, 3093, 2598, 289, 820, 266, 5551, 31843, 13, 31875, 10496 })]
    [InlineData("llama2-tiny-random-f16.gguf", new[] { 1, 9038, 2501, 263, 931 },
        new[] { 17196, 5211, 21440, 25431, 7455, 3285, 29710, 4660, 29509, 31364, 19741, 8021, 29710, 4660, 29509, 31364 })]
    public void GreedyContinuationMatchesLlamaCpp(string file, int[] prompt, int[] expected)
    {
        using var model = LanguageModel.Load(TestPaths.Model(file));
        using var transformer = new Transformer(model, threads: 2, maxBatch: 64, maxContext: 256);
        using var cache = transformer.CreateCache(256);
        var logits = new float[model.Config.VocabSize];
        transformer.Forward(prompt, cache, logits);
        var got = new List<int>();
        for (int i = 0; i < expected.Length; i++)
        {
            int next = ArgMax(logits);
            got.Add(next);
            transformer.Forward([next], cache, logits);
        }
        Assert.Equal(expected, got);
    }

    internal static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
