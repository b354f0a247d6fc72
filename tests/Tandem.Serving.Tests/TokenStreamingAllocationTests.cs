using Tandem.Engine.Generation;
using Tandem.Engine.Sampling;
using Tandem.Engine.Tokenization;
using Tandem.Serving.Scheduling;
using static Tandem.Serving.Tests.ServingTestKit;

namespace Tandem.Serving.Tests;

/// <summary>
/// What an instance loop allocates to hand one sampled token to its client (<see cref="RequestStream.OnToken"/>), with
/// a reader waiting on the channel as the HTTP layer's is: once the token's text has been seen, nothing.
/// </summary>
public class TokenStreamingAllocationTests
{
    [Fact]
    public async Task HandingATokenToAWaitingReaderAllocatesNothingOnceItsTextIsKnown()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        int[] prompt = tokenizer.Encode(Prompts[0], addBos: true);
        const int tokens = 400;
        var generation = new GenerationRequest { Id = "a", PromptTokens = prompt, MaxTokens = tokens + 1, IgnoreEos = true, Sampling = SamplingParams.Greedy };
        var stream = new RequestStream(generation, tokenizer, model.Config.VocabSize);
        var request = new Request("a", prompt, tokens + 1, 0, 0) { Stream = stream };
        request.Timeline.TokenTimes.EnsureCapacity(tokens + 1);
        var received = new List<string>();
        int count = 0;
        var reader = Task.Run(async () =>
        {
            await foreach (var t in stream.Reader.ReadAllAsync())
            {
                received.Add(t.Text);
                Interlocked.Increment(ref count);
            }
        });

        // Tokens of one word each: "Once upon a time" again and again, so that each releases its own text at once.
        int[] words = tokenizer.Encode(" there was a little girl", addBos: false);
        long[] allocated = new long[tokens];
        for (int i = 0; i < tokens; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            Assert.Null(stream.OnToken(request, words[i % words.Length], default, i));
            allocated[i] = GC.GetAllocatedBytesForCurrentThread() - before;
            // As in a server, the reader has taken the token and waits again before the next one comes.
            while (Volatile.Read(ref count) <= i) Thread.Yield();
            Thread.Sleep(1);
        }
        stream.Finish(request, FinishReason.Length, tokens);
        await reader;

        // The client gets the text a streaming decoder makes of these tokens, each token's piece as it came.
        var decoder = new StreamingDecoder(tokenizer);
        Assert.Equal(Enumerable.Range(0, tokens).Select(i => decoder.Add(words[i % words.Length])), received);
        // Once each word's text is kept, a token allocates nothing: only the channel's queue grows now and then (its
        // segments double), so a handful of tokens allocate; before, every token made its text twice (136 B per decode
        // step in the server runs of 2026-12-03, with the boxed enumerator of the sampled tokens).
        var afterFirst = allocated.Skip(words.Length).ToArray();
        Assert.True(afterFirst.Count(b => b > 0) <= 6, $"tokens that allocated: {string.Join(", ", afterFirst.Select((b, i) => (b, i)).Where(p => p.b > 0).Select(p => $"#{p.i + words.Length}: {p.b} B"))}");
    }
}
