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
        var plain = await Converse(options with { PrefixCaching = false, LocalPrefillThreshold = 0 }, tokenizer);
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

    /// <summary>
    /// The default (<see cref="ServingOptions.DefaultLocalPrefillThreshold"/>, from measurement): a prompt whose uncached
    /// part is short is prefilled on the decode instance, a long one goes through the prefill instance and a transfer,
    /// each gives the engine's own output, and the prefix cache's counts stay exact on both instances: each request is
    /// looked up once, where it is prefilled, and its cached tokens are the hits there.
    /// </summary>
    [Fact]
    public async Task ByDefaultAShortUncachedRemainderIsPrefilledOnTheDecodeInstanceWithExactCacheAccounting()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        const int blockSize = 8;
        await using var engine = ServingRuntime.Start(Options(model, ServingMode.Disaggregated) with { BlockSize = blockSize, MaxContext = 512 });
        int threshold = engine.Options.LocalPrefillThreshold;
        Assert.Equal(ServingOptions.DefaultLocalPrefillThreshold, threshold);

        var longPrompt = tokenizer.Encode(string.Join(" ", Prompts), addBos: true);
        var otherLongPrompt = tokenizer.Encode(string.Join(" ", Enumerable.Reverse(Prompts)), addBos: true);
        var shortPrompt = tokenizer.Encode(Prompts[0], addBos: true);
        Assert.True(longPrompt.Length > threshold && otherLongPrompt.Length > threshold && shortPrompt.Length <= threshold);

        async Task<Collected> Run(string id, int[] prompt)
        {
            var done = await Collect(engine.Submit(new GenerationRequest { Id = id, PromptTokens = prompt, MaxTokens = 16, IgnoreEos = true, Sampling = SamplingParams.Greedy }));
            Assert.Equal(Generate(model, tokenizer, prompt, 16, ignoreEos: true).Tokens, done.Tokens); // the engine alone, bit for bit
            return done;
        }
        // Nothing cached anywhere, past the threshold: prefill instance and transfer.
        var first = await Run("long", longPrompt);
        // Short: prefilled where it decodes, no KV moved.
        var brief = await Run("short", shortPrompt);
        // The long prompt's next turn: its history is cached on the decode instance (the pull left it there), and the
        // rest, a few tokens, is prefilled there.
        int[] nextTurn = [.. longPrompt, .. first.Tokens, .. tokenizer.Encode(" One day", addBos: false)];
        var next = await Run("next", nextTurn);
        // A new long prompt: through the prefill instance again.
        var other = await Run("other", otherLongPrompt);

        Assert.True(first.Outcome.KvTransferBytes > 0 && other.Outcome.KvTransferBytes > 0);
        Assert.Equal(0, brief.Outcome.KvTransferBytes);
        Assert.Null(brief.Outcome.Timeline.TransferStart);
        Assert.Equal(0, next.Outcome.KvTransferBytes);
        Assert.Null(next.Outcome.Timeline.TransferStart);
        Assert.Equal((longPrompt.Length + first.Tokens.Length - 1) / blockSize * blockSize, next.Outcome.CachedTokens);
        Assert.Equal(0, first.Outcome.CachedTokens);
        Assert.Equal(0, brief.Outcome.CachedTokens);
        Assert.Equal(0, other.Outcome.CachedTokens);

        // vllm:prefix_cache_queries / _hits: the prompts each instance prefilled, and of those the cached tokens. A pull
        // that reuses the decode instance's cached blocks is no query (the prompt was looked up where it was prefilled).
        await AssertPoolsDrain(engine);
        var instances = engine.Snapshot().Instances;
        var prefill = instances.Single(i => i.Role == "prefill");
        var decode = instances.Single(i => i.Role == "decode");
        Assert.Equal(first.Outcome.PromptTokens + other.Outcome.PromptTokens, prefill.PrefixCacheQueries);
        Assert.Equal(0, prefill.PrefixCacheHits);
        Assert.Equal(brief.Outcome.PromptTokens + next.Outcome.PromptTokens, decode.PrefixCacheQueries);
        Assert.Equal(next.Outcome.CachedTokens, decode.PrefixCacheHits);
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
