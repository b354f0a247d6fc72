using Tandem.Engine.Sampling;
using Tandem.Engine.Tokenization;
using static Tandem.Serving.Tests.ServingTestKit;

namespace Tandem.Serving.Tests;

public class SubmitValidationTests
{
    [Fact]
    public async Task RequestsThatCanNeverRunAreRejectedWithAReason()
    {
        using var model = Load("stories260K.gguf");
        await using var engine = ServingRuntime.Start(Options(model, ServingMode.Disaggregated, kvBlocks: 4) with { MaxContext = 256 });
        Assert.Equal(256, engine.MaxContext);

        var empty = Assert.Throws<RequestRejectedException>(() => engine.Submit(new GenerationRequest { Id = "e", PromptTokens = [] }));
        Assert.Equal("invalid_request", empty.Code);

        var tooLong = Assert.Throws<RequestRejectedException>(() => engine.Submit(new GenerationRequest { Id = "l", PromptTokens = [1, 2, 3], MaxTokens = 254 }));
        Assert.Equal("context_length_exceeded", tooLong.Code);
        Assert.Contains("256", tooLong.Message);

        // Fits the context but not a pool of 4 blocks × 16 tokens.
        var tooBig = Assert.Throws<RequestRejectedException>(() => engine.Submit(new GenerationRequest { Id = "b", PromptTokens = [1, 2, 3], MaxTokens = 100 }));
        Assert.Equal("kv_capacity_exceeded", tooBig.Code);

        var badToken = Assert.Throws<RequestRejectedException>(() => engine.Submit(new GenerationRequest { Id = "t", PromptTokens = [1, 100000] }));
        Assert.Equal("invalid_request", badToken.Code);

        // max_tokens 0 completes at once without touching an instance.
        var none = await Collect(engine.Submit(new GenerationRequest { Id = "z", PromptTokens = [1, 2], MaxTokens = 0 }));
        Assert.Empty(none.Tokens);
        Assert.Equal(Tandem.Engine.Generation.FinishReason.Length, none.Outcome.FinishReason);
    }

    [Fact]
    public void InvalidOptionsAreExplained()
    {
        using var model = Load("stories260K.gguf");
        Assert.Contains("exactly one", Assert.Throws<ArgumentException>(() => ServingRuntime.Start(new ServingOptions())).Message);
        Assert.Contains("PrefillInstances", Assert.Throws<ArgumentException>(() => ServingRuntime.Start(new ServingOptions { Model = model, PrefillInstances = 0 })).Message);
        Assert.Contains("InstanceCores", Assert.Throws<ArgumentException>(() =>
            ServingRuntime.Start(new ServingOptions { Model = model, InstanceCores = [[0]] })).Message);
        Assert.Contains("below one block", Assert.Throws<ArgumentException>(() =>
            ServingRuntime.Start(new ServingOptions { Model = model, KvBytesPerInstance = 100 })).Message);
    }

    [Fact]
    public async Task StopStringsAndSnapshotWork()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        var prompt = tokenizer.Encode("Once upon a time", addBos: true);
        var reference = Generate(model, tokenizer, prompt, 40);
        // Stop at the first "Lily": the text before it comes back, the stop string does not.
        await using var engine = ServingRuntime.Start(Options(model, ServingMode.Disaggregated));
        var r = await Collect(engine.Submit(new GenerationRequest { Id = "s", PromptTokens = prompt, MaxTokens = 40, Sampling = SamplingParams.Greedy, Stop = ["Lily"] }));
        Assert.Equal(Tandem.Engine.Generation.FinishReason.Stop, r.Outcome.FinishReason);
        Assert.Equal("Lily", r.Outcome.StopString);
        Assert.Equal(reference.Text[..reference.Text.IndexOf("Lily", StringComparison.Ordinal)], r.Text);

        var snapshot = engine.Snapshot();
        Assert.Equal(["prefill", "decode"], snapshot.Instances.Select(i => i.Role));
        Assert.All(snapshot.Instances, i => Assert.Equal(256, i.KvBlocksTotal));
        Assert.All(snapshot.Instances, i => Assert.Single(i.Cores));
        // The 5-token prompt is within the default local prefill threshold: the decode instance ran it, then each
        // generated token but the last (never fed back); the prefill instance ran nothing.
        Assert.Equal([0, prompt.Length + r.Outcome.CompletionTokens - 1], snapshot.Instances.Select(i => i.TokensComputed));
    }
}
