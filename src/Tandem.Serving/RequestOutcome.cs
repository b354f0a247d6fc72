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
}
