using Tandem.Engine.Generation;
using Tandem.Engine.Sampling;
using Tandem.Engine.Tokenization;
using static Tandem.Serving.Tests.ServingTestKit;

namespace Tandem.Serving.Tests;

/// <summary>
/// Automatic prefix caching must change only what is computed, never what comes out: greedy tokens, text and
/// log-probabilities (bit for bit) with the cache on equal those with it off, across modes, block sizes, prefixes
/// that end inside a block, chunked prefill and preemption; and the pools' accounting comes back exact after random
/// cancellations.
/// </summary>
public class PrefixCachingTests
{
    private const string System = "Once upon a time, there was a little girl named Lily. She liked to play in the park with her friends. ";

    private static readonly string[] Questions =
    [
        "One day",
        "Lily saw a big red ball and",
        "Her mom said",
        "The sun was hot and the children wanted to swim in the lake, but",
        "Ben",
    ];

    /// <summary>Shared system prompt + question, the system prompt alone, and exact repeats: every kind of prefix.</summary>
    private static int[][] Prompts(Tokenizer tokenizer) =>
    [
        .. Questions.Select(q => tokenizer.Encode(System + q, addBos: true)),
        tokenizer.Encode(System, addBos: true),
        tokenizer.Encode(System + Questions[0], addBos: true),
        tokenizer.Encode("Tom had a toy car.", addBos: true),
    ];

    /// <summary>A request's collected output and every streamed token with its log-probabilities.</summary>
    private sealed record Generated(Collected Result, TokenOutput[] Tokens)
    {
        public RequestOutcome Outcome => Result.Outcome;
    }

    private sealed record Run(Generated[] Results, ServingSnapshot Snapshot);

    /// <summary>Two waves (the second finds what the first left cached); greedy, five log-probabilities per token.</summary>
    private static async Task<Run> Serve(ServingOptions options, int[][] prompts, int maxTokens)
    {
        await using var engine = ServingRuntime.Start(options);
        var results = new List<Generated>();
        foreach (var wave in new[] { prompts[..3], prompts[3..], prompts })
        {
            var handles = wave.Select((p, i) => engine.Submit(new GenerationRequest
            {
                Id = $"r{results.Count + i}", PromptTokens = p, MaxTokens = maxTokens, IgnoreEos = true,
                Sampling = SamplingParams.Greedy with { LogProbs = 5 },
            })).ToArray();
            var collected = await Task.WhenAll(handles.Select(CollectWithLogProbs));
            results.AddRange(collected);
        }
        await AssertPoolsDrain(engine);
        return new Run([.. results], engine.Snapshot());
    }

    private static async Task<Generated> CollectWithLogProbs(RequestHandle handle)
    {
        using var cts = new CancellationTokenSource(HangGuard);
        var outputs = new List<TokenOutput>();
        await foreach (var t in handle.Tokens.ReadAllAsync(cts.Token)) outputs.Add(t);
        var outcome = await handle.Completion.WaitAsync(cts.Token);
        var tokens = outputs.Where(o => o.TokenId >= 0).ToArray();
        return new Generated(new Collected([.. tokens.Select(o => o.TokenId)], string.Concat(outputs.Select(o => o.Text)), outcome), tokens);
    }

    private static void AssertSameOutput(Generated expected, Generated actual)
    {
        Assert.Equal(expected.Result.Tokens, actual.Result.Tokens);
        Assert.Equal(expected.Result.Text, actual.Result.Text);
        TokenOutput[] e = expected.Tokens, a = actual.Tokens;
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(e[i].LogProb.LogProb), BitConverter.SingleToInt32Bits(a[i].LogProb.LogProb));
            Assert.Equal(e[i].TopLogProbs!.Select(t => (t.TokenId, BitConverter.SingleToInt32Bits(t.LogProb))),
                         a[i].TopLogProbs!.Select(t => (t.TokenId, BitConverter.SingleToInt32Bits(t.LogProb))));
        }
    }

    public static TheoryData<ServingMode, int, bool> Cases => new()
    {
        // mode, block size, whether the pool is small enough to preempt (it holds the longest request and 2 blocks more)
        { ServingMode.Disaggregated, 16, false },
        { ServingMode.Colocated, 4, false },
        { ServingMode.Chunked, 16, false },
        { ServingMode.Chunked, 32, false },
        { ServingMode.Chunked, 4, true },
        { ServingMode.Colocated, 16, true },
        { ServingMode.Disaggregated, 8, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task OutputsAreBitIdenticalWithAndWithoutTheCache(ServingMode mode, int blockSize, bool preempts)
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        var prompts = Prompts(tokenizer);
        int maxTokens = preempts ? 64 : 24;
        int? kvBlocks = preempts ? (prompts.Max(p => p.Length) + maxTokens + blockSize - 1) / blockSize + 2 : null;
        // Small budgets so prompts after a hit are still chunked and batched with others.
        var options = Options(model, mode, kvBlocks) with { BlockSize = blockSize, PrefillTokenTarget = 24, ChunkBudget = 12, MaxContext = 512 };

        var off = await Serve(options with { PrefixCaching = false }, prompts, maxTokens);
        var on = await Serve(options, prompts, maxTokens);

        for (int i = 0; i < off.Results.Length; i++) AssertSameOutput(off.Results[i], on.Results[i]);
        Assert.All(off.Results, r => Assert.Equal(0, r.Outcome.CachedTokens));
        Assert.All(off.Snapshot.Instances, i => Assert.Equal(0, i.PrefixCacheQueries));
        // The third wave repeats every prompt: with room to keep them, each one longer than a block finds something (a
        // small pool may have evicted some, but not everything).
        var repeats = on.Results[^prompts.Length..];
        if (preempts) Assert.Contains(repeats, r => r.Outcome.CachedTokens > 0);
        else Assert.All(repeats.Where(r => r.Outcome.PromptTokens > blockSize), r => Assert.True(r.Outcome.CachedTokens > 0, $"no hit for a repeated prompt of {r.Outcome.PromptTokens} tokens"));
        Assert.All(on.Results, r => Assert.Equal(0, r.Outcome.CachedTokens % blockSize));
        long hits = on.Snapshot.Instances.Sum(i => i.PrefixCacheHits), queries = on.Snapshot.Instances.Sum(i => i.PrefixCacheQueries);
        Assert.InRange(hits, on.Results.Sum(r => (long)r.Outcome.CachedTokens), queries);
        if (preempts) Assert.True(on.Results.Sum(r => r.Outcome.Preemptions) > 0 && off.Results.Sum(r => r.Outcome.Preemptions) > 0, "the small pool was meant to preempt");
        // Less computed with the cache: what it is for (with preemption, how often each run recomputes depends on timing).
        if (!preempts) Assert.True(on.Snapshot.Instances.Sum(i => i.TokensComputed) < off.Snapshot.Instances.Sum(i => i.TokensComputed));
    }

    /// <summary>
    /// <c>--prefill-busy-tokens</c> sends prompts of any length to the decode instance while the prefill instance has a
    /// queue. A flood of long prompts at once, into pools that hold little more than one request each: every request gets
    /// its whole answer, bit for bit (tokens and log-probabilities) what it gets with every prompt going through the
    /// prefill instance, and the pools drain.
    /// </summary>
    [Fact]
    public async Task LongPromptsFloodingASmallDecodePoolAllFinishWithTheOutputOfPrefillAlone()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        var prompts = Questions.Select(q => tokenizer.Encode(System + System + q, addBos: true)).ToArray();
        const int blockSize = 8, maxTokens = 32, copies = 3;
        int kvBlocks = (prompts.Max(p => p.Length) + maxTokens + blockSize - 1) / blockSize + 3;
        var options = Options(model, ServingMode.Disaggregated, kvBlocks) with { BlockSize = blockSize, PrefillTokenTarget = 24, MaxContext = 512 };

        async Task<(Generated[] Results, ServingSnapshot Snapshot)> Flood(ServingOptions o)
        {
            await using var engine = ServingRuntime.Start(o);
            var handles = Enumerable.Range(0, copies * prompts.Length).Select(i => engine.Submit(new GenerationRequest
            {
                Id = $"r{i}", PromptTokens = prompts[i % prompts.Length], MaxTokens = maxTokens, IgnoreEos = true,
                Sampling = SamplingParams.Greedy with { LogProbs = 5 },
            })).ToArray();
            var results = await Task.WhenAll(handles.Select(CollectWithLogProbs));
            await AssertPoolsDrain(engine);
            return (results, engine.Snapshot());
        }
        var throughPrefill = await Flood(options with { LocalPrefillThreshold = 0 });
        Assert.All(throughPrefill.Results, r => Assert.Equal(maxTokens, r.Outcome.CompletionTokens));
        // Whether the decode instance takes a prompt itself depends on timing (a seat free while the prefill instance has
        // a queue): a fresh flood, up to three, until one did; every flood's outputs must match all the same.
        var busy = await Flood(options with { LocalPrefillThreshold = 16, PrefillBusyTokens = 1 });
        for (int attempt = 0; ; attempt++)
        {
            if (attempt > 0) busy = await Flood(options with { LocalPrefillThreshold = 16, PrefillBusyTokens = 1 });
            for (int i = 0; i < busy.Results.Length; i++) AssertSameOutput(throughPrefill.Results[i], busy.Results[i]);
            if (attempt == 2 || busy.Results.Any(r => r.Outcome.KvTransferBytes == 0)) break;
        }
        // The decode instance did prefill some of them itself (no transfer), the rest went through prefill.
        Assert.Contains(busy.Results, r => r.Outcome.KvTransferBytes == 0);
        Assert.Contains(busy.Results, r => r.Outcome.KvTransferBytes > 0);
        Assert.True(busy.Snapshot.Instances.Single(i => i.Role == "decode").PrefixCacheQueries > 0);
    }

    /// <summary>
    /// A burst of requests sharing prefixes on small pools, a seeded random half cancelled at random moments (queued,
    /// prefilling, held, decoding, preempted): every pool drains to zero used blocks, and the cache left behind still
    /// gives exactly the engine's own output.
    /// </summary>
    [Theory]
    [InlineData(ServingMode.Disaggregated, 1)]
    [InlineData(ServingMode.Chunked, 2)]
    [InlineData(ServingMode.Colocated, 3)]
    public async Task RandomCancellationsLeaveExactAccountingAndACorrectCache(ServingMode mode, int seed)
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        var prompts = Prompts(tokenizer);
        var rng = new Random(seed);
        await using var engine = ServingRuntime.Start(Options(model, mode, kvBlocks: 24) with { BlockSize = 8, MaxContext = 256, PrefillTokenTarget = 32, ChunkBudget = 16 });

        var handles = new List<(RequestHandle Handle, bool Cancel)>();
        for (int i = 0; i < 32; i++)
        {
            var h = engine.Submit(new GenerationRequest { Id = $"r{i}", PromptTokens = prompts[rng.Next(prompts.Length)], MaxTokens = 40, IgnoreEos = true });
            handles.Add((h, rng.Next(2) == 0));
        }
        var cancels = handles.Where(h => h.Cancel).Select(async h =>
        {
            await Task.Delay(rng.Next(0, 30));
            h.Handle.Cancel();
        }).ToArray();
        await Task.WhenAll(cancels);
        var results = await Task.WhenAll(handles.Select(h => Collect(h.Handle)));
        for (int i = 0; i < results.Length; i++)
            if (!handles[i].Cancel) Assert.Equal(40, results[i].Outcome.CompletionTokens);
        await AssertPoolsDrain(engine);
        Assert.All(engine.Snapshot().Instances, i => Assert.InRange(i.KvBlocksCached, 0, i.KvBlocksTotal));

        // What stayed cached is still right: every prompt again, one at a time, against the engine alone.
        foreach (var p in prompts)
        {
            var expected = Generate(model, tokenizer, p, 40, ignoreEos: true);
            var again = await Collect(engine.Submit(new GenerationRequest { Id = "again", PromptTokens = p, MaxTokens = 40, IgnoreEos = true, Sampling = SamplingParams.Greedy }));
            Assert.Equal(expected.Tokens, again.Tokens);
        }
        await AssertPoolsDrain(engine);
    }
}
