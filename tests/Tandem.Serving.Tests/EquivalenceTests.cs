using Tandem.Engine.Sampling;
using Tandem.Engine.Tokenization;
using static Tandem.Serving.Tests.ServingTestKit;

namespace Tandem.Serving.Tests;

/// <summary>
/// Batching, migration, chunking and preemption must not change what a request generates: greedy output of
/// every mode equals the engine alone (TextGenerator), token for token and character for character.
/// </summary>
public class EquivalenceTests
{
    public static TheoryData<string, ServingMode> Cases => new()
    {
        { "stories260K.gguf", ServingMode.Disaggregated },
        { "stories260K.gguf", ServingMode.Colocated },
        { "stories260K.gguf", ServingMode.Chunked },
        { "tinyllama-v0-q4_0.gguf", ServingMode.Disaggregated },
        { "tinyllama-v0-q4_0.gguf", ServingMode.Colocated },
        { "tinyllama-v0-q4_0.gguf", ServingMode.Chunked },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task ConcurrentGreedyRequestsMatchTheEngineAlone(string file, ServingMode mode)
    {
        using var model = Load(file);
        var tokenizer = Tokenizer.FromGguf(model.File);
        var prompts = Prompts.Select(p => tokenizer.Encode(p, addBos: true)).ToArray();
        int[] maxTokens = [48, 64, 20, 40, 1, 33, 60, 25];
        var expected = prompts.Select((p, i) => Generate(model, tokenizer, p, maxTokens[i])).ToArray();

        // Small token targets so prompts are split into chunks and batched with each other.
        await using var engine = ServingRuntime.Start(Options(model, mode) with { PrefillTokenTarget = 24, ChunkBudget = 16 });
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
    }
}
