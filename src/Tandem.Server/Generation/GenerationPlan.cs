using Tandem.Engine.Sampling;

namespace Tandem.Server.Generation;

/// <summary>
/// A validated API request reduced to what the runtime needs: tokenized prompts, how many choices each gets, and
/// the per-choice generation settings. Choice <c>p·N + i</c> continues prompt p with seed <c>Seed + i</c>.
/// </summary>
internal sealed record GenerationPlan
{
    public required string Model { get; init; }
    public required IReadOnlyList<int[]> Prompts { get; init; }
    /// <summary>Completion budget of each prompt (same order as <see cref="Prompts"/>), already checked against the context.</summary>
    public required IReadOnlyList<int> MaxTokens { get; init; }
    public int N { get; init; } = 1;
    /// <summary>Sampling of choice 0; the seed moves by the choice's index within its prompt.</summary>
    public required SamplingParams Sampling { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];
    public bool IgnoreEos { get; init; }
    /// <summary>Whether per-token log-probabilities are returned (the alternatives count is <see cref="SamplingParams.LogProbs"/>).</summary>
    public bool LogProbs { get; init; }
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    public bool ReturnTimeline { get; init; }
    /// <summary>Chat with tools: how replies are read for tool calls; null when they are plain text.</summary>
    public Chat.ToolCallPlan? ToolCalls { get; init; }

    public int ChoiceCount => Prompts.Count * N;
}
