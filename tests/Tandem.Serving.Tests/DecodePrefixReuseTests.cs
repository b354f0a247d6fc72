using Tandem.Engine.KvCache;
using Tandem.Engine.Sampling;
using Tandem.Engine.Tokenization;
using static Tandem.Serving.Tests.ServingTestKit;

namespace Tandem.Serving.Tests;

/// <summary>
/// A decode instance that holds a cached prefix of a prefilled request's KV (a conversation's history it decoded
/// before) pulls only the blocks it lacks, and the conversation's output is exactly what moving the whole KV gives.
/// </summary>
public class DecodePrefixReuseTests
{
    [Fact]
    public async Task LaterTurnsPullOnlyTheBlocksTheDecodeInstanceLacksWithTheSameTokensAndLogprobs()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        const int blockSize = 8;
        // Local prefill off: every turn goes through the prefill instance and a pull (what this test measures).
        var options = Options(model, ServingMode.Disaggregated) with { BlockSize = blockSize, MaxContext = 512, LocalPrefillThreshold = 0 };
        var whole = await Converse(options with { PrefixCaching = false }, tokenizer);
        var reused = await Converse(options, tokenizer);

        long perToken = KvBlockPool.BytesPerToken(model.Config, KvElementType.F32);
        const long framing = KvPayloadHeader.Size + KvPayloadHeader.TrailerSize;
        for (int i = 0; i < whole.Length; i++)
        {
            Assert.Equal(whole[i].Tokens, reused[i].Tokens);
            Assert.Equal(whole[i].LogProbs, reused[i].LogProbs); // bit for bit
            // Without the cache every turn moves the KV of its whole prompt.
            Assert.Equal(0, whole[i].Outcome.KvReusedTokens);
            Assert.Equal(framing + whole[i].Outcome.PromptTokens * perToken, whole[i].Outcome.KvTransferBytes);
        }
        // Turn 1: nothing cached on the decode instance. Every later turn: the history's whole blocks are there (the turn
        // before decoded them), and only the rest crosses: exactly the tokens after the reused blocks.
        Assert.Equal(0, reused[0].Outcome.KvReusedTokens);
        for (int i = 1; i < reused.Length; i++)
        {
            var o = reused[i].Outcome;
            int previous = reused[i - 1].Outcome.PromptTokens + reused[i - 1].Tokens.Length - 1; // the KV the turn before left
            Assert.Equal(previous / blockSize * blockSize, o.KvReusedTokens);
            Assert.Equal(framing + (o.PromptTokens - o.KvReusedTokens) * perToken, o.KvTransferBytes);
        }
    }

    private sealed record Turn(int[] Tokens, float[] LogProbs, RequestOutcome Outcome);

    private static async Task<Turn[]> Converse(ServingOptions options, Tokenizer tokenizer)
    {
        await using var engine = ServingRuntime.Start(options);
        var history = new List<int>(tokenizer.Encode("Once upon a time, there was a little girl named Lily. She liked to play in the park.", addBos: true));
        var turns = new List<Turn>();
        foreach (var said in new[] { " One day", " she saw a dog.", " The dog was big and", " Lily said" })
        {
            history.AddRange(tokenizer.Encode(said, addBos: false));
            var handle = engine.Submit(new GenerationRequest
            {
                Id = $"t{turns.Count}", PromptTokens = [.. history], MaxTokens = 12, IgnoreEos = true,
                Sampling = SamplingParams.Greedy with { LogProbs = 1 },
            });
            using var cts = new CancellationTokenSource(HangGuard);
            var tokens = new List<int>();
            var logProbs = new List<float>();
            await foreach (var t in handle.Tokens.ReadAllAsync(cts.Token))
            {
                if (t.TokenId < 0) continue;
                tokens.Add(t.TokenId);
                logProbs.Add(t.LogProb.LogProb);
            }
            turns.Add(new Turn([.. tokens], [.. logProbs], await handle.Completion.WaitAsync(cts.Token)));
            history.AddRange(tokens);
            // The KV freed by the decode instance stays in its cache: the next turn finds it there.
            await AssertPoolsDrain(engine);
        }
        return [.. turns];
    }
}
