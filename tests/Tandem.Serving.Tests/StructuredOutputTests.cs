using Tandem.Engine.Generation;
using Tandem.Engine.Model;
using Tandem.Engine.Sampling;
using Tandem.Engine.Structured;
using Tandem.Engine.Tests.Structured;
using Tandem.Engine.Tokenization;
using Tandem.Serving.Workers;
using static Tandem.Serving.Tests.ServingTestKit;

namespace Tandem.Serving.Tests;

/// <summary>
/// Structured output in every serving mode: batching, migration from prefill to decode, chunking and preemption on
/// tiny pools do not change a constrained request's tokens (they equal the engine alone with the same constraint),
/// and every output that stops validates against its schema.
/// </summary>
public class StructuredOutputTests
{
    private static readonly string[] Schemas =
    [
        """{"type":"object","properties":{"ok":{"type":"boolean"},"n":{"type":"integer"}},"required":["ok","n"],"additionalProperties":false}""",
        """{"type":"object","properties":{"title":{"type":"string"},"tags":{"type":"array","items":{"enum":["a","b"]}}},"required":["title"]}""",
        """{"type":"array","items":{"type":["number","null"]}}""",
        null!, // json_object
    ];

    private static JsonGrammar Grammar(string? schema) => schema == null ? JsonGrammar.JsonObject : JsonGrammar.FromSchema(schema);

    private static Reference Generate(LanguageModel model, Tokenizer tokenizer, int[] prompt, int maxTokens, JsonGrammar grammar)
    {
        using var tr = new Transformer(model, threads: 1, maxBatch: 512, maxContext: model.Config.ContextLength);
        var result = new TextGenerator(tr, tokenizer).Generate(prompt, new GenerationOptions
        {
            MaxTokens = maxTokens, Sampling = SamplingParams.Greedy, StructuredOutput = grammar,
        });
        return new Reference([.. result.Tokens], result.Text, result.FinishReason);
    }

    [Theory]
    [InlineData(ServingMode.Disaggregated)]
    [InlineData(ServingMode.Colocated)]
    [InlineData(ServingMode.Chunked)]
    public async Task Constrained_output_is_the_engine_alone_in_every_mode_even_through_preemption(ServingMode mode)
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        // 16 requests of up to 100 tokens on pools of 8 blocks × 16 = 128 tokens: running ones preempt each other.
        var prompts = Enumerable.Range(0, 16).Select(i => tokenizer.Encode(Prompts[i % Prompts.Length], addBos: true)).ToArray();
        var maxTokens = prompts.Select(p => 100 - p.Length).ToArray();

        await using var engine = ServingRuntime.Start(Options(model, mode, kvBlocks: 8) with { PrefillTokenTarget = 64, ChunkBudget = 32, MaxContext = 128 });
        var handles = prompts.Select((p, i) => engine.Submit(new GenerationRequest
        {
            Id = $"r{i}", PromptTokens = p, MaxTokens = maxTokens[i], Sampling = SamplingParams.Greedy,
            StructuredOutput = Grammar(Schemas[i % Schemas.Length]),
        })).ToArray();
        var results = await Task.WhenAll(handles.Select(Collect));

        int stopped = 0;
        for (int i = 0; i < prompts.Length; i++)
        {
            string? schema = Schemas[i % Schemas.Length];
            var reference = Generate(model, tokenizer, prompts[i], maxTokens[i], Grammar(schema));
            Assert.Equal(reference.Tokens, results[i].Tokens);
            Assert.Equal(reference.Text, results[i].Text);
            Assert.Equal(reference.Finish, results[i].Outcome.FinishReason);
            if (results[i].Outcome.FinishReason != FinishReason.Stop) continue;
            stopped++;
            StructuredOutputAssert.Valid(schema, results[i].Text);
        }
        Assert.True(stopped > 0, "no constrained output reached its end");
        Assert.True(results.Sum(r => r.Outcome.Preemptions) > 0, "the tiny pools should have forced at least one preemption");
        await AssertPoolsDrain(engine);
    }

    /// <summary>
    /// A cluster worker gets the constraint as the grammar plus the tokens generated so far (where the sampler's random
    /// state travels too) and continues exactly where the engine alone would; tokens the grammar refuses are refused.
    /// </summary>
    [Fact]
    public async Task A_worker_continues_a_constrained_request_from_the_tokens_so_far()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        var prompt = tokenizer.Encode(Prompts[2], addBos: true);
        var grammar = Grammar(Schemas[1]);
        var reference = Generate(model, tokenizer, prompt, 40, grammar);
        Assert.True(reference.Tokens.Length > 12);

        await using var worker = WorkerRuntime.Start(Options(model, ServingMode.Disaggregated), WorkerRole.Prefill, TimeSpan.FromSeconds(30));
        foreach (int k in new[] { 1, 6, 12 })
        {
            var submission = worker.Submit(new WorkerRequest
            {
                Id = $"w{k}", TokenIds = [.. prompt, .. reference.Tokens[..k]], MaxTokens = 1, Sampling = SamplingParams.Greedy,
                StructuredOutput = grammar, OutputStart = prompt.Length,
            }, kv: null);
            var next = await Collect(submission.Handle);
            Assert.Equal(reference.Tokens[k], Assert.Single(next.Tokens));
        }

        int x = tokenizer.Vocabulary.ByteToToken((byte)'x'); // "x" cannot start JSON
        Assert.Throws<RequestRejectedException>(() => worker.Submit(new WorkerRequest
        {
            Id = "bad", TokenIds = [.. prompt, x], MaxTokens = 1, Sampling = SamplingParams.Greedy, StructuredOutput = grammar, OutputStart = prompt.Length,
        }, kv: null));
        Assert.Throws<RequestRejectedException>(() => worker.Submit(new WorkerRequest
        {
            Id = "out", TokenIds = prompt, MaxTokens = 1, Sampling = SamplingParams.Greedy, StructuredOutput = grammar, OutputStart = prompt.Length + 1,
        }, kv: null));
    }
}
