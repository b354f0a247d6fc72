using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Engine.Tests.KvCache;

namespace Tandem.Engine.Tests.Model;

/// <summary>
/// <see cref="Transformer.WarmUp"/> runs before a command's first request (tandem generate): it must leave nothing
/// behind that the request could see, so the logits after it are bit-identical to a fresh transformer's.
/// </summary>
public class WarmUpTests
{
    [Theory]
    [MemberData(nameof(BatchedForwardTests.Models), MemberType = typeof(BatchedForwardTests))]
    public void A_warmed_transformer_computes_what_a_fresh_one_computes(string file, KvElementType kv)
    {
        using var model = LanguageModel.Load(BatchedForwardTests.Resolve(file));
        int vocab = model.Config.VocabSize;
        int[] prompt = Enumerable.Range(0, 23).Select(i => 1 + i * 7 % (vocab - 1)).ToArray();

        float[] Logits(bool warm)
        {
            using var tr = new Transformer(model, threads: 2, maxBatch: 16, maxContext: 64);
            if (warm) tr.WarmUp(kv);
            using var seq = tr.CreateCache(64, kv);
            var logits = new float[prompt.Length * vocab];
            tr.Forward(prompt, seq, logits, allLogits: true); // two chunks of at most 16: prefill and the rest
            return logits;
        }

        Assert.Equal(Logits(warm: false), Logits(warm: true));
    }

    [Fact]
    public void A_context_of_two_tokens_warms_up_with_one()
    {
        using var model = LanguageModel.Load(TestPaths.Model("stories260K.gguf"));
        using var tr = new Transformer(model, threads: 1, maxBatch: 1, maxContext: 2);
        tr.WarmUp();
        using var seq = tr.CreateCache(2);
        var logits = new float[model.Config.VocabSize];
        tr.Forward([1, 2], seq, logits);
        Assert.Equal(2, seq.Length);
    }
}
