using Tandem.Engine.Sampling;
using Tandem.Engine.Tokenization;
using static Tandem.Serving.Tests.ServingTestKit;

namespace Tandem.Serving.Tests;

/// <summary>
/// Many concurrent requests on pools far too small for all of them: every request completes, output is
/// still the engine's (preemption recomputes exactly), no KV block leaks, and timelines are ordered.
/// </summary>
public class LoadTests
{
    [Theory]
    [InlineData(ServingMode.Disaggregated, 0)]
    // The default: every prompt here is short, so it is prefilled on the decode instance; a preempted one is recomputed
    // on the prefill instance and its KV moves, so both paths run under preemption.
    [InlineData(ServingMode.Disaggregated, ServingOptions.DefaultLocalPrefillThreshold)]
    [InlineData(ServingMode.Colocated, 0)]
    [InlineData(ServingMode.Chunked, 0)]
    public async Task TinyPoolsForcePreemptionAndOutputStaysIdentical(ServingMode mode, int localPrefillThreshold)
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        // 24 requests of 100 tokens each (prompt + forced output) on pools of 8 blocks × 16 = 128 tokens:
        // one request fits alone, so running ones must preempt each other as they grow.
        var prompts = Enumerable.Range(0, 24).Select(i => tokenizer.Encode(Prompts[i % Prompts.Length], addBos: true)).ToArray();
        var maxTokens = prompts.Select(p => 100 - p.Length).ToArray();
        var expected = new Dictionary<int, Reference>();
        var results = new Collected[prompts.Length];

        await using var engine = ServingRuntime.Start(Options(model, mode, kvBlocks: 8) with { PrefillTokenTarget = 64, ChunkBudget = 32, MaxContext = 128, LocalPrefillThreshold = localPrefillThreshold });
        var handles = prompts.Select((p, i) => engine.Submit(new GenerationRequest
        {
            Id = $"r{i}", PromptTokens = p, MaxTokens = maxTokens[i], Sampling = SamplingParams.Greedy, IgnoreEos = true,
        })).ToArray();
        results = await Task.WhenAll(handles.Select(Collect));

        for (int i = 0; i < prompts.Length; i++)
        {
            int k = i % Prompts.Length;
            if (!expected.TryGetValue(k, out var reference))
                expected[k] = reference = Generate(model, tokenizer, prompts[i], maxTokens[i], ignoreEos: true);
            Assert.Equal(reference.Tokens, results[i].Tokens);
            Assert.Equal(reference.Text, results[i].Text);
            Assert.Equal(Tandem.Engine.Generation.FinishReason.Length, results[i].Outcome.FinishReason);
            AssertTimelineOrdered(results[i].Outcome, mode, localPrefillThreshold > 0);
        }
        Assert.True(results.Sum(r => r.Outcome.Preemptions) > 0, "the tiny pools should have forced at least one preemption");
        if (localPrefillThreshold > 0) Assert.Contains(results, r => r.Outcome.KvTransferBytes == 0); // some never left the decode instance
        await AssertPoolsDrain(engine);
    }

    /// <param name="localPrefill">Disaggregated with a local prefill threshold: a request prefilled on the decode instance has no transfer.</param>
    internal static void AssertTimelineOrdered(RequestOutcome o, ServingMode mode, bool localPrefill = false)
    {
        var t = o.Timeline;
        Assert.Equal(o.CompletionTokens, t.TokenTimes.Count);
        Assert.NotNull(t.PrefillQueued);
        Assert.NotNull(t.PrefillStart);
        Assert.NotNull(t.PrefillEnd);
        Assert.NotNull(t.End);
        Assert.True(t.Arrival <= t.PrefillQueued && t.PrefillQueued <= t.PrefillStart && t.PrefillStart <= t.PrefillEnd);
        Assert.True(t.TokenTimes.Count == 0 || t.PrefillEnd <= t.TokenTimes[0]);
        for (int i = 1; i < t.TokenTimes.Count; i++) Assert.True(t.TokenTimes[i - 1] <= t.TokenTimes[i]);
        if (t.TokenTimes.Count > 0) Assert.True(t.TokenTimes[^1] <= t.End);
        if (o.CompletionTokens > 1)
        {
            Assert.NotNull(t.DecodeStart);
            Assert.True(t.TokenTimes[0] <= t.DecodeStart && t.DecodeStart <= t.End);
        }
        bool transferred = mode == ServingMode.Disaggregated && (!localPrefill || t.TransferStart is not null);
        if (transferred && o.CompletionTokens > 1)
        {
            Assert.NotNull(t.TransferStart);
            Assert.NotNull(t.TransferEnd);
            Assert.True(t.TokenTimes[0] <= t.TransferStart && t.TransferStart <= t.TransferEnd);
            // A request prefilled and decoding on the decode instance, then preempted there and recomputed on the prefill
            // instance, moves its KV only after its decoding began (each event keeps its first time).
            if (!(localPrefill && o.Preemptions > 0)) Assert.True(t.TransferEnd <= t.DecodeStart);
            Assert.True(o.KvTransferBytes > 0);
        }
        if (!transferred)
        {
            Assert.Null(t.TransferStart);
            Assert.Null(t.TransferEnd);
            Assert.Equal(0, o.KvTransferBytes);
        }
    }

    [Theory]
    [InlineData(ServingMode.Disaggregated)]
    [InlineData(ServingMode.Chunked)]
    public async Task ManyShortRequestsAllCompleteWithOrderedTimelines(ServingMode mode)
    {
        using var model = Load("tinyllama-v0-q4_0.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        // Local prefill off: every prompt goes through a prefill instance, so both of them and both decode instances get work.
        await using var engine = ServingRuntime.Start(Options(model, mode, kvBlocks: 12) with { PrefillInstances = 2, DecodeInstances = 2, ColocatedInstances = 2, LocalPrefillThreshold = 0 });
        var handles = Enumerable.Range(0, 40).Select(i => engine.Submit(new GenerationRequest
        {
            Id = $"r{i}", PromptTokens = tokenizer.Encode(Prompts[i % Prompts.Length], addBos: true), MaxTokens = 1 + i % 30,
            Sampling = new SamplingParams { Temperature = 0.8f, Seed = (ulong)i, LogProbs = i % 3 },
        })).ToArray();
        var results = await Task.WhenAll(handles.Select(Collect));
        foreach (var r in results) AssertTimelineOrdered(r.Outcome, mode);
        Assert.Contains(results, r => r.Outcome.CompletionTokens > 1);
        await AssertPoolsDrain(engine);
        // Both instances of each role got work: the controller spread the prompts over the prefill (or colocated)
        // instances and the prefilled requests over the decode instances.
        var instances = engine.Snapshot().Instances;
        Assert.Equal(mode == ServingMode.Disaggregated ? 4 : 2, instances.Count);
        Assert.All(instances, i => Assert.True(i.TokensComputed > 0, $"{i.Name} computed no tokens"));
    }

    [Fact]
    public async Task SeededSamplingIsTheSameInEveryMode()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        var sampling = new SamplingParams { Temperature = 0.9f, TopK = 40, TopP = 0.95f, RepetitionPenalty = 1.1f, Seed = 1234, LogProbs = 2 };
        var outputs = new List<Collected>();
        foreach (var mode in new[] { ServingMode.Disaggregated, ServingMode.Colocated, ServingMode.Chunked })
        {
            await using var engine = ServingRuntime.Start(Options(model, mode, kvBlocks: 6) with { MaxContext = 96 });
            var handles = Enumerable.Range(0, 6).Select(i => tokenizer.Encode(Prompts[i], addBos: true)).Select((p, i) => engine.Submit(new GenerationRequest
            {
                Id = $"r{i}", PromptTokens = p, MaxTokens = 90 - p.Length, Sampling = sampling,
                IgnoreEos = true, Stop = ["zzz"],
            })).ToArray();
            outputs.AddRange(await Task.WhenAll(handles.Select(Collect)));
        }
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(outputs[i].Tokens, outputs[6 + i].Tokens);
            Assert.Equal(outputs[i].Tokens, outputs[12 + i].Tokens);
            Assert.Equal(outputs[i].Text, outputs[12 + i].Text);
        }
    }
}
