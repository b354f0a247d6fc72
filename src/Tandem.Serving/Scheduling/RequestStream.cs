using System.Threading.Channels;
using Tandem.Engine.Generation;
using Tandem.Engine.Sampling;
using Tandem.Engine.Structured;
using Tandem.Engine.Tokenization;

namespace Tandem.Serving.Scheduling;

/// <summary>
/// The output side of a request (vLLM's output processor): its sampler, the streaming detokenizer and stop
/// string matcher, and the client's channel and completion. Used by whichever instance loop owns the
/// request, one at a time; it survives migration and preemption, so a recomputed request continues the
/// same text and the same random stream. Mirrors <see cref="TextGenerator"/> token for token.
/// </summary>
internal sealed class RequestStream
{
    private readonly Channel<TokenOutput> _channel = Channel.CreateUnbounded<TokenOutput>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = true });
    private readonly TaskCompletionSource<RequestOutcome> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Tokenizer _tokenizer;
    private readonly StreamingDecoder _decoder;
    private readonly TokenTextCache _texts;
    private readonly StopStringMatcher _stop;
    private readonly bool _ignoreEos;
    private readonly int[] _stopTokenIds;
    private readonly bool _includeStop;
    private int? _stoppedByToken;
    private int _completed;

    public RequestStream(GenerationRequest request, Tokenizer tokenizer, int vocabSize)
    {
        _tokenizer = tokenizer;
        _decoder = new StreamingDecoder(tokenizer);
        _texts = TokenTextCache.For(tokenizer);
        _stop = new StopStringMatcher(request.Stop, request.IncludeStopStringInOutput);
        _ignoreEos = request.IgnoreEos;
        _stopTokenIds = [.. request.StopTokenIds];
        _includeStop = request.IncludeStopStringInOutput;
        foreach (int id in _stopTokenIds)
            if ((uint)id >= (uint)vocabSize) throw new ArgumentException($"stop token {id} is outside the vocabulary (0..{vocabSize - 1})");
        Sampler = new Sampler(request.Sampling, vocabSize);
        if (request.StructuredOutput is { } grammar)
            Sampler.Constraint = Constraint = new JsonConstraint(grammar, tokenizer.Vocabulary);
        else if (request.ToolCalls is { } tools)
            Sampler.Constraint = Constraint = new ToolCallConstraint(tools, tokenizer.Vocabulary);
        TopLogProbs = Sampler.TopLogProbCount > 0 ? new TokenLogProb[Sampler.TopLogProbCount] : [];
    }

    public Sampler Sampler { get; }
    /// <summary>The structured-output or tool-call state (null: free text): it masks the sampler's logits and follows every token taken.</summary>
    public ITokenConstraint? Constraint { get; }
    /// <summary>Scratch for the sampler's top alternatives (copied into each TokenOutput).</summary>
    public TokenLogProb[] TopLogProbs { get; }
    public ChannelReader<TokenOutput> Reader => _channel.Reader;
    public Task<RequestOutcome> Completion => _completion.Task;
    public bool IsCompleted => Volatile.Read(ref _completed) != 0;

    /// <summary>
    /// Handles a sampled token: an end-of-generation token ends the request unseen; any other is appended,
    /// detokenized, checked for stop strings and streamed. Returns why the request ends, or null to go on.
    /// With structured output the token also advances the constraint (a token it refuses, which only a broken
    /// worker can send, throws <see cref="InvalidOperationException"/>).
    /// </summary>
    public FinishReason? OnToken(Request request, int tokenId, TokenLogProb chosen, double now)
    {
        Constraint?.Accept(tokenId);
        if (!_ignoreEos && _tokenizer.IsEndOfGeneration(tokenId))
            return Constraint is { IsComplete: false } ? FinishReason.Length : FinishReason.Stop; // a constrained dead end is cut, not done
        request.AppendOutputToken(tokenId);
        request.Timeline.TokenTimes.Add(now);
        bool stopToken = _stopTokenIds.Length > 0 && Array.IndexOf(_stopTokenIds, tokenId) >= 0;
        // A stop token counts as generated (as in vLLM); its text goes out only when the stop is to be included.
        string released = stopToken && !_includeStop ? "" : _texts.Get(tokenId, _stop.Append(_decoder.AddChars(tokenId)));
        _channel.Writer.TryWrite(new TokenOutput(tokenId, released, chosen, TopLogProbs.Length > 0 ? (TokenLogProb[])TopLogProbs.Clone() : null)
        {
            RandomState = Sampler.Params.IsGreedy ? null : Sampler.RandomState,
        });
        if (_stop.IsStopped) return FinishReason.Stop;
        if (stopToken)
        {
            _stoppedByToken = tokenId;
            return FinishReason.Stop;
        }
        if (request.NumOutputTokens >= request.MaxTokens) return FinishReason.Length;
        return null;
    }

    /// <summary>
    /// Takes a token sampled by another process's prefill (it came with KV pulled while that prefill ran) as if sampled
    /// here, without streaming it: the frontend streamed it already. The constraint and the text follow it, and the random
    /// stream continues from where that sampler left it.
    /// </summary>
    public void TakePrefilledToken(Request request, Workers.PrefilledToken token)
    {
        Constraint?.Accept(token.TokenId);
        request.AppendOutputToken(token.TokenId);
        _stop.Append(_decoder.AddChars(token.TokenId));
        if (token.RandomState is { } state) Sampler.RandomState = state;
    }

    /// <summary>Flushes held-back text (unless cancelled or stopped by a stop string) and completes the handle.</summary>
    public void Finish(Request request, FinishReason reason, double now)
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0) return;
        if (reason != FinishReason.Cancelled && !_stop.IsStopped)
        {
            string rest = _stop.Append(_decoder.Flush()).ToString() + _stop.Flush().ToString();
            if (rest.Length > 0) _channel.Writer.TryWrite(new TokenOutput(-1, rest, default, null));
        }
        request.Timeline.End = now;
        _channel.Writer.TryComplete();
        _completion.TrySetResult(new RequestOutcome
        {
            FinishReason = reason,
            PromptTokens = request.NumPromptTokens,
            CompletionTokens = request.NumOutputTokens,
            Timeline = request.Timeline,
            StopString = _stop.MatchedStopString,
            StopTokenId = _stop.IsStopped ? null : _stoppedByToken,
            Preemptions = request.NumPreemptions,
            KvTransferBytes = request.KvTransferBytes,
            KvReusedTokens = request.KvReusedTokens,
            CachedTokens = request.NumCachedTokens,
        });
    }

    /// <summary>Ends the request with an error (a broken invariant, a failed transfer).</summary>
    public void Fail(Request request, Exception error, double now)
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0) return;
        request.Timeline.End = now;
        _channel.Writer.TryComplete(error);
        _completion.TrySetException(error);
    }
}
