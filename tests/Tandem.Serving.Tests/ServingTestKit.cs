using Tandem.Engine.Generation;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Engine.Sampling;
using Tandem.Engine.Tests;
using Tandem.Engine.Tokenization;

namespace Tandem.Serving.Tests;

/// <summary>Shared helpers: reference generations by the engine alone, runtimes, and hang guards.</summary>
internal static class ServingTestKit
{
    /// <summary>Generous: only guards against hangs, never measures speed.</summary>
    public static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(2);

    public static readonly string[] Prompts =
    [
        "Once upon a time",
        "Lily and Ben went to the park",
        "The little dog was sad because",
        "One day, a girl named Sue found a big red ball in the garden. She",
        "Tom had a toy car.",
        "In a small house near the woods there lived an old man who liked to sing songs to the birds every morning. One morning",
        "Mia",
        "The sun was hot and the children wanted to swim in the lake, but their mom said",
    ];

    public sealed record Reference(int[] Tokens, string Text, FinishReason Finish);

    public static Reference Generate(LanguageModel model, Tokenizer tokenizer, int[] prompt, int maxTokens, bool ignoreEos = false)
    {
        using var tr = new Transformer(model, threads: 1, maxBatch: 512, maxContext: Math.Max(model.Config.ContextLength, prompt.Length + maxTokens));
        var gen = new TextGenerator(tr, tokenizer);
        var result = gen.Generate(prompt, new GenerationOptions { MaxTokens = maxTokens, Sampling = SamplingParams.Greedy, IgnoreEos = ignoreEos });
        return new Reference([.. result.Tokens], result.Text, result.FinishReason);
    }

    public static ServingOptions Options(LanguageModel model, ServingMode mode, int? kvBlocks = null) => new()
    {
        Model = model,
        Mode = mode,
        KvElementType = KvElementType.F32, // the engine's single-sequence path (TextGenerator) keeps F32 KV
        KvBlocksPerInstance = kvBlocks ?? 256,
        CoresPerInstance = 1,
        OnWarning = _ => { },
    };

    public sealed record Collected(int[] Tokens, string Text, RequestOutcome Outcome);

    /// <summary>Reads the stream to its end and awaits the outcome, under the hang guard.</summary>
    public static async Task<Collected> Collect(RequestHandle handle)
    {
        using var cts = new CancellationTokenSource(HangGuard);
        var tokens = new List<int>();
        var text = new System.Text.StringBuilder();
        await foreach (var t in handle.Tokens.ReadAllAsync(cts.Token))
        {
            if (t.TokenId >= 0) tokens.Add(t.TokenId);
            text.Append(t.Text);
        }
        var outcome = await handle.Completion.WaitAsync(cts.Token);
        return new Collected([.. tokens], text.ToString(), outcome);
    }

    /// <summary>Waits until every pool is empty (release messages may trail the completions) or fails the test.</summary>
    public static async Task AssertPoolsDrain(IServingEngine engine)
    {
        var until = DateTime.UtcNow + HangGuard;
        while (true)
        {
            var s = engine.Snapshot();
            if (s.Instances.All(i => i.KvBlocksUsed == 0 && i.Running == 0 && i.Waiting == 0)) return;
            if (DateTime.UtcNow > until)
                Assert.Fail("KV blocks leaked or requests stuck: " + string.Join("; ", s.Instances.Select(i => $"{i.Name} used={i.KvBlocksUsed} running={i.Running} waiting={i.Waiting}")));
            await Task.Delay(10);
        }
    }

    /// <summary>Polls a condition on the runtime's state (hang-guarded).</summary>
    public static async Task WaitUntil(IServingEngine engine, Func<ServingSnapshot, bool> condition, string what)
    {
        var until = DateTime.UtcNow + HangGuard;
        while (!condition(engine.Snapshot()))
        {
            if (DateTime.UtcNow > until) Assert.Fail("timed out waiting for " + what);
            await Task.Delay(5);
        }
    }

    public static LanguageModel Load(string file) => LanguageModel.Load(TestPaths.Model(file));
}
