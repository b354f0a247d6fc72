using Tandem.Engine.Sampling;
using Tandem.Engine.Tokenization;
using static Tandem.Serving.Tests.ServingTestKit;

namespace Tandem.Serving.Tests;

/// <summary>
/// Conditional disaggregation: a prompt whose uncached part is short is prefilled on the decode instance that holds
/// the rest (no prefill instance, no transfer), and the output is exactly what going through prefill would give.
/// </summary>
public class ConditionalDisaggregationTests
{
    [Fact]
    public async Task LaterTurnsPrefillOnTheDecodeInstanceWithoutATransferAndTheSameOutput()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        var options = Options(model, ServingMode.Disaggregated) with { BlockSize = 8, MaxContext = 512, PrefillTokenTarget = 32 };
        var plain = await Converse(options with { PrefixCaching = false }, tokenizer);
        var local = await Converse(options with { LocalPrefillThreshold = 24 }, tokenizer);

        for (int i = 0; i < plain.Length; i++)
        {
            Assert.Equal(plain[i].Tokens, local[i].Tokens);
            Assert.Equal(plain[i].Text, local[i].Text);
            Assert.True(plain[i].Outcome.KvTransferBytes > 0); // always through a prefill instance
        }
        // The first turn has nothing cached anywhere: prefill instance and transfer. Every later turn's history is
        // cached on the decode instance that decoded the turn before, and the rest is short: prefilled there.
        Assert.True(local[0].Outcome.KvTransferBytes > 0);
        Assert.All(local[1..], r => Assert.Equal(0, r.Outcome.KvTransferBytes));
        Assert.All(local[1..], r => Assert.True(r.Outcome.CachedTokens > 0));
        Assert.All(local[1..], r => Assert.NotNull(r.Outcome.Timeline.PrefillEnd));
    }

    [Fact]
    public async Task EveryPromptCanPrefillLocallyAndMatchesTheEngineAlone()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        // A threshold past every prompt: decode instances do all the prefill, in chunks of at most 16 tokens per step.
        await using var engine = ServingRuntime.Start(Options(model, ServingMode.Disaggregated) with { LocalPrefillThreshold = 16, PrefillBusyTokens = 1, MaxContext = 512 });
        var prompts = Prompts.Select(p => tokenizer.Encode(p, addBos: true)).ToArray();
        var results = await Task.WhenAll(prompts.Select((p, i) => Collect(engine.Submit(new GenerationRequest
        {
            Id = $"r{i}", PromptTokens = p, MaxTokens = 24, Sampling = SamplingParams.Greedy,
        }))));
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(Generate(model, tokenizer, prompts[i], 24).Tokens, results[i].Tokens);
        await AssertPoolsDrain(engine);
    }

    private static async Task<Collected[]> Converse(ServingOptions options, Tokenizer tokenizer)
    {
        await using var engine = ServingRuntime.Start(options);
        var history = new List<int>(tokenizer.Encode("Once upon a time, there was a little girl named Lily. She liked to play in the park.", addBos: true));
        var results = new List<Collected>();
        foreach (var turn in new[] { "One day", " she saw a dog.", " The dog was big and", " Lily said" })
        {
            history.AddRange(tokenizer.Encode(turn, addBos: false));
            var done = await Collect(engine.Submit(new GenerationRequest
            {
                Id = $"t{results.Count}", PromptTokens = [.. history], MaxTokens = 8, IgnoreEos = true, Sampling = SamplingParams.Greedy,
            }));
            results.Add(done);
            history.AddRange(done.Tokens);
        }
        await AssertPoolsDrain(engine);
        return [.. results];
    }
}
