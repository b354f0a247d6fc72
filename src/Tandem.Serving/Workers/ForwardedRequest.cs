using Tandem.Engine.Generation;
using Tandem.Engine.Sampling;
using Tandem.Engine.Structured;
using Tandem.Engine.Tokenization;
using Tandem.Serving.Scheduling;

namespace Tandem.Serving.Workers;

/// <summary>
/// A request as a cluster frontend holds it while workers compute it: the client's stream (text, stop strings,
/// log-probabilities: the same output processor the in-process runtime uses) and the tokens so far, which are what
/// a worker gets when the request is (re)submitted. Tokens arrive with their position, so one that a worker sends
/// again after a recovery is recognised and dropped: the client sees each token exactly once.
/// </summary>
public sealed class ForwardedRequest
{
    private readonly Request _request;
    private readonly RequestStream _stream;
    private readonly CancellationTokenSource _cancelled = new();

    public ForwardedRequest(GenerationRequest request, Tokenizer tokenizer, int vocab, long arrivalOrder, double now)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            _stream = new RequestStream(request, tokenizer, vocab);
        }
        catch (ArgumentException e)
        {
            throw new RequestRejectedException(e.Message);
        }
        _request = new Request(request.Id, request.PromptTokens, request.MaxTokens, arrivalOrder, now) { Stream = _stream };
        Sampling = request.Sampling;
        IgnoreEos = request.IgnoreEos;
        StructuredOutput = request.StructuredOutput;
        ToolCalls = request.ToolCalls;
        TraceContext = request.TraceContext;
        Handle = new RequestHandle(request.Id, _stream.Reader, _stream.Completion, () =>
        {
            _request.RequestCancel();
            try { _cancelled.Cancel(); } catch (ObjectDisposedException) { }
        });
        _request.Timeline.PrefillQueued = now;
    }

    public string Id => _request.RequestId;
    public RequestHandle Handle { get; }
    public SamplingParams Sampling { get; }
    /// <summary>The seed every worker samples with (drawn here when the client gave none).</summary>
    public ulong Seed => _stream.Sampler.Seed;
    public bool IgnoreEos { get; }
    /// <summary>Structured output, enforced by the workers (null: free text).</summary>
    public JsonGrammar? StructuredOutput { get; }
    /// <summary>Tool calls enforced by the workers where the reply writes them (null: none).</summary>
    public ToolCallSyntax? ToolCalls { get; }
    /// <summary>The request's trace span, the parent of the frontend's calls to workers (default: not traced).</summary>
    public System.Diagnostics.ActivityContext TraceContext { get; }
    /// <summary>The random state after the last token received (null: greedy, or none yet).</summary>
    public Xoshiro256StarStar? RandomState { get; set; }
    /// <summary>Prompt then tokens generated so far.</summary>
    public IReadOnlyList<int> TokenIds => _request.AllTokenIds;
    /// <summary>The same tokens without a copy (for hashing at routing); valid until the next token is accepted.</summary>
    public ReadOnlySpan<int> TokenIdSpan => _request.AllTokenIdSpan;
    public int NumTokens => _request.NumTokens;
    public int NumPromptTokens => _request.NumPromptTokens;
    public int RemainingTokens => _request.MaxTokens - _request.NumOutputTokens;
    public RequestTimeline Timeline => _request.Timeline;
    public bool IsCompleted => _stream.IsCompleted;
    /// <summary>Cancelled when the client cancels (left, timed out, server shutdown).</summary>
    public CancellationToken Cancelled => _cancelled.Token;
    public bool IsCancelRequested => _request.IsCancelRequested;
    public long KvTransferBytes { get => _request.KvTransferBytes; set => _request.KvTransferBytes = value; }
    /// <summary>Tokens of the KV the decode worker held cached already (not pulled), at its last import.</summary>
    public int KvReusedTokens { get => _request.KvReusedTokens; set => _request.KvReusedTokens = value; }
    public int Recomputations { get => _request.NumPreemptions; set => _request.NumPreemptions = value; }

    /// <summary>
    /// The prefill worker took <paramref name="tokens"/> of the request's tokens from its prefix cache: the client's
    /// usage.prompt_tokens_details.cached_tokens. Only the first prefill's counts (a recomputation does not change it, as in process).
    /// </summary>
    public void NoteCachedTokens(int tokens) => _request.NotePrefixHit(tokens);

    /// <summary>
    /// A token a worker sampled at <paramref name="position"/>: appended and streamed when it is the next one, dropped
    /// when the request already has it. Returns why the request ends here (a stop string, max_tokens), or null.
    /// Throws <see cref="InvalidOperationException"/> for a position past the next one (a broken worker).
    /// </summary>
    public FinishReason? AcceptToken(int position, int tokenId, TokenLogProb chosen, ReadOnlySpan<TokenLogProb> top, double now, out bool duplicate)
    {
        duplicate = position < _request.NumTokens;
        if (duplicate) return null;
        if (position > _request.NumTokens)
            throw new InvalidOperationException($"a worker sent token position {position} of request {Id}, which has {_request.NumTokens} tokens");
        top[..Math.Min(top.Length, _stream.TopLogProbs.Length)].CopyTo(_stream.TopLogProbs);
        return _stream.OnToken(_request, tokenId, chosen, now);
    }

    public void Finish(FinishReason reason, double now)
    {
        _request.Status = reason switch
        {
            FinishReason.Stop => RequestStatus.FinishedStopped,
            FinishReason.Length => RequestStatus.FinishedLengthCapped,
            _ => RequestStatus.FinishedCancelled,
        };
        _stream.Finish(_request, reason, now);
    }

    public void Fail(Exception error, double now)
    {
        _request.Status = RequestStatus.FinishedError;
        _stream.Fail(_request, error, now);
    }
}
