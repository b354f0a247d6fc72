using Tandem.Engine.Generation;

namespace Tandem.Serving;

/// <summary>How a request ended.</summary>
public sealed record RequestOutcome
{
    public required FinishReason FinishReason { get; init; }
    public required int PromptTokens { get; init; }
    public required int CompletionTokens { get; init; }
    public required RequestTimeline Timeline { get; init; }
    /// <summary>The stop string that ended generation, if one did.</summary>
    public string? StopString { get; init; }
    /// <summary>The stop token (of <see cref="GenerationRequest.StopTokenIds"/>) that ended generation, if one did.</summary>
    public int? StopTokenId { get; init; }
    /// <summary>How often the request lost its KV to preemption and was recomputed.</summary>
    public int Preemptions { get; init; }
    /// <summary>Prompt tokens whose KV came from the prefix cache instead of being computed (usage.prompt_tokens_details.cached_tokens).</summary>
    public int CachedTokens { get; init; }
    /// <summary>Bytes of KV moved from prefill to decode instances (0 when colocated).</summary>
    public long KvTransferBytes { get; init; }
    /// <summary>Tokens of the KV migrated to the decode instance that it held in its prefix cache already (not transferred).</summary>
    public int KvReusedTokens { get; init; }
}
