using Tandem.Engine.Generation;
using Tandem.Engine.Sampling;
using Tandem.Engine.Tokenization;
using static Tandem.Serving.Tests.ServingTestKit;

namespace Tandem.Serving.Tests;

/// <summary>
/// Cancel frees a request's KV wherever it is. One decode slot (MaxNumSeqs = 1) and a request that would
/// generate for thousands of tokens hold the runtime in a known state: A decoding, B waiting behind it
/// (queued without KV when colocated; prefilled, its KV held in the prefill pool, when disaggregated).
/// </summary>
public class CancellationTests
{
    [Theory]
    [InlineData(ServingMode.Disaggregated)]
    [InlineData(ServingMode.Colocated)]
    [InlineData(ServingMode.Chunked)]
    public async Task CancelWhileQueuedAndMidDecodeFreesTheKv(ServingMode mode)
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        var prompt = tokenizer.Encode("Once upon a time", addBos: true);
        // Local prefill off: disaggregated, B is prefilled on the prefill instance and its KV held there.
        await using var engine = ServingRuntime.Start(Options(model, mode, kvBlocks: 260) with { MaxContext = 4096, MaxNumSeqs = 1, LocalPrefillThreshold = 0 });
        GenerationRequest Long(string id) => new() { Id = id, PromptTokens = prompt, MaxTokens = 4000, IgnoreEos = true, Sampling = SamplingParams.Greedy };

        var a = engine.Submit(Long("a"));
        // A is decoding once it has streamed a few tokens.
        for (int i = 0; i < 3; i++) await a.Tokens.ReadAsync().AsTask().WaitAsync(HangGuard);
        var b = engine.Submit(Long("b"));
        string bRole = mode == ServingMode.Disaggregated ? "decode" : "colocated";
        await WaitUntil(engine, s => s.Instances.Any(i => i.Role == bRole && i.Waiting == 1), "B to wait behind A");
        if (mode == ServingMode.Disaggregated)
            Assert.True(engine.Snapshot().Instances.Single(i => i.Role == "prefill").KvBlocksUsed > 0, "B's KV is held in the prefill pool");

        b.Cancel();
        var bDone = await Collect(b);
        Assert.Equal(FinishReason.Cancelled, bDone.Outcome.FinishReason);
        Assert.Equal(mode == ServingMode.Disaggregated ? 1 : 0, bDone.Outcome.CompletionTokens); // disaggregated: its first token came out of prefill
        await WaitUntil(engine, s => s.Instances.All(i => i.Role == "decode" || i.Role == "colocated" || i.KvBlocksUsed == 0), "B's held KV to be freed");

        a.Cancel();
        var aDone = await Collect(a);
        Assert.Equal(FinishReason.Cancelled, aDone.Outcome.FinishReason);
        Assert.InRange(aDone.Outcome.CompletionTokens, 3, 3999);
        await AssertPoolsDrain(engine);
    }

    [Fact]
    public async Task CancelRightAfterSubmitAlwaysCompletes()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        await using var engine = ServingRuntime.Start(Options(model, ServingMode.Disaggregated, kvBlocks: 16) with { MaxContext = 256 });
        var handles = Enumerable.Range(0, 30).Select(i => engine.Submit(new GenerationRequest
        {
            Id = $"r{i}", PromptTokens = tokenizer.Encode(Prompts[i % Prompts.Length], addBos: true), MaxTokens = 200, IgnoreEos = true,
        })).ToArray();
        // Cancel every other request at whatever stage it has reached.
        for (int i = 0; i < handles.Length; i += 2) handles[i].Cancel();
        var results = await Task.WhenAll(handles.Select(Collect));
        for (int i = 0; i < handles.Length; i += 2) Assert.Equal(FinishReason.Cancelled, results[i].Outcome.FinishReason);
        for (int i = 1; i < handles.Length; i += 2) Assert.Equal(FinishReason.Length, results[i].Outcome.FinishReason);
        await AssertPoolsDrain(engine);
    }

    [Fact]
    public async Task DisposeCancelsOutstandingRequests()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        var engine = ServingRuntime.Start(Options(model, ServingMode.Chunked) with { MaxContext = 4096, KvBlocksPerInstance = 260 });
        var h = engine.Submit(new GenerationRequest { Id = "x", PromptTokens = tokenizer.Encode("Once", addBos: true), MaxTokens = 4000, IgnoreEos = true });
        await h.Tokens.ReadAsync().AsTask().WaitAsync(HangGuard);
        await engine.DisposeAsync();
        var outcome = await h.Completion.WaitAsync(HangGuard);
        Assert.Equal(FinishReason.Cancelled, outcome.FinishReason);
        Assert.Throws<ObjectDisposedException>(() => engine.Submit(new GenerationRequest { Id = "y", PromptTokens = [1] }));
    }
}
