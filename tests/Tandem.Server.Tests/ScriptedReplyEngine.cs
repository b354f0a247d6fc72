using System.Threading.Channels;
using Tandem.Engine.Model;
using Tandem.Engine.Tokenization;
using Tandem.Serving;

namespace Tandem.Server.Tests;

/// <summary>
/// Test-only hook for tool calling: the tiny test model never writes a tool call of its own, so this wraps the real
/// runtime — every request is really prefilled and decoded there, one real token per piece of the reply — and
/// replaces the text of those tokens with a scripted reply (cut into 4-character pieces, so a call arrives split
/// across stream chunks). Everything from the HTTP request to the streamed JSON is the real server. Records each
/// request's prompt tokens, so tests can check what the chat template rendered.
/// </summary>
public sealed class ScriptedReplyEngine(IServingEngine inner) : IServingEngine
{
    private readonly object _lock = new();
    private readonly List<GenerationRequest> _submitted = [];

    /// <summary>The reply the next requests get.</summary>
    public string Reply { get; set; } = "";

    public GenerationRequest LastRequest { get { lock (_lock) return _submitted[^1]; } }

    public ModelConfig Config => inner.Config;
    public Tokenizer Tokenizer => inner.Tokenizer;
    public int MaxContext => inner.MaxContext;
    public int KvCapacityTokens => inner.KvCapacityTokens;
    public ServingSnapshot Snapshot() => inner.Snapshot();

    public RequestHandle Submit(GenerationRequest request)
    {
        lock (_lock) _submitted.Add(request);
        string reply = Reply;
        var pieces = Enumerable.Range(0, (reply.Length + 3) / 4).Select(i => reply.Substring(i * 4, Math.Min(4, reply.Length - i * 4))).ToList();
        var real = inner.Submit(request with { MaxTokens = Math.Max(1, pieces.Count), IgnoreEos = true });
        var channel = Channel.CreateUnbounded<TokenOutput>();
        async Task<RequestOutcome> RunAsync()
        {
            int i = 0;
            try
            {
                await foreach (var token in real.Tokens.ReadAllAsync())
                {
                    if (token.TokenId >= 0 && i < pieces.Count)
                        channel.Writer.TryWrite(token with { Text = pieces[i++] });
                }
                var outcome = await real.Completion;
                // The model "stopped" after the reply, as one that emitted EOS would.
                return outcome with { FinishReason = outcome.FinishReason == Engine.Generation.FinishReason.Length ? Engine.Generation.FinishReason.Stop : outcome.FinishReason, CompletionTokens = i };
            }
            finally
            {
                channel.Writer.TryComplete();
            }
        }
        return new RequestHandle(request.Id, channel.Reader, RunAsync(), real.Cancel);
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
