using Tandem.Engine.Sampling;
using Tandem.Engine.Tokenization;
using static Tandem.Serving.Tests.ServingTestKit;

namespace Tandem.Serving.Tests;

/// <summary>
/// Batching, migration, chunking and preemption must not change what a request generates: greedy output of
/// every mode equals the engine alone (TextGenerator), token for token and character for character; and so must
/// recording every step (the step log, on the instance loop).
/// </summary>
public class EquivalenceTests
{
    public static TheoryData<string, ServingMode, bool> Cases => new()
    {
        { "stories260K.gguf", ServingMode.Disaggregated, false },
        { "stories260K.gguf", ServingMode.Colocated, false },
        { "stories260K.gguf", ServingMode.Chunked, false },
        { "tinyllama-v0-q4_0.gguf", ServingMode.Disaggregated, false },
        { "tinyllama-v0-q4_0.gguf", ServingMode.Colocated, false },
        { "tinyllama-v0-q4_0.gguf", ServingMode.Chunked, false },
        { "stories260K.gguf", ServingMode.Disaggregated, true },
        { "stories260K.gguf", ServingMode.Colocated, true },
        { "stories260K.gguf", ServingMode.Chunked, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task ConcurrentGreedyRequestsMatchTheEngineAlone(string file, ServingMode mode, bool stepLog)
    {
        using var model = Load(file);
        var tokenizer = Tokenizer.FromGguf(model.File);
        var prompts = Prompts.Select(p => tokenizer.Encode(p, addBos: true)).ToArray();
        int[] maxTokens = [48, 64, 20, 40, 1, 33, 60, 25];
        var expected = prompts.Select((p, i) => Generate(model, tokenizer, p, maxTokens[i])).ToArray();

        // Small token targets so prompts are split into chunks and batched with each other.
        await using var engine = ServingRuntime.Start(Options(model, mode) with { PrefillTokenTarget = 24, ChunkBudget = 16, StepLogCapacity = stepLog ? 4096 : 0 });
        var handles = prompts.Select((p, i) => engine.Submit(new GenerationRequest
        {
            Id = $"r{i}", PromptTokens = p, MaxTokens = maxTokens[i], Sampling = SamplingParams.Greedy,
        })).ToArray();
        var results = await Task.WhenAll(handles.Select(Collect));

        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(expected[i].Tokens, results[i].Tokens);
            Assert.Equal(expected[i].Text, results[i].Text);
            Assert.Equal(expected[i].Finish, results[i].Outcome.FinishReason);
            Assert.Equal(prompts[i].Length, results[i].Outcome.PromptTokens);
            Assert.Equal(expected[i].Tokens.Length, results[i].Outcome.CompletionTokens);
        }
        await AssertPoolsDrain(engine);
        // With the log on, every token computed is in some step (prompts, then one decode token per output but the last).
        if (stepLog)
        {
            var steps = engine.StepLogs.SelectMany(l => l.ReadSince(0, out _)).ToArray();
            long computed = prompts.Sum(p => (long)p.Length) + results.Sum(r => Math.Max(0, r.Tokens.Length - 1));
            Assert.Equal(computed, steps.Sum(s => (long)s.PrefillTokens + s.DecodeSequences));
        }
    }
}
