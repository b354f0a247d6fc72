using Tandem.Engine.Sampling;
using Tandem.Engine.Structured;

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
    /// <summary>vLLM's stop_token_ids.</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];
    public bool IncludeStopStringInOutput { get; init; }
    public bool IgnoreEos { get; init; }
    /// <summary>Completions' <c>echo</c>: each prompt's text, put before its choices' text; null without echo.</summary>
    public IReadOnlyList<string>? EchoTexts { get; init; }
    /// <summary>The grammar every choice's output follows (response_format / guided_json), or null for free text.</summary>
    public JsonGrammar? StructuredOutput { get; init; }
    /// <summary>Whether per-token log-probabilities are returned (the alternatives count is <see cref="SamplingParams.LogProbs"/>).</summary>
    public bool LogProbs { get; init; }
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    public bool ReturnTimeline { get; init; }
    /// <summary>Chat with tools: how replies are read for tool calls; null when they are plain text.</summary>
    public Engine.Chat.Tools.ToolCallPlan? ToolCalls { get; init; }

    public int ChoiceCount => Prompts.Count * N;

    /// <summary>The echoed prompt text of choice <paramref name="choice"/>, or null without echo.</summary>
    public string? EchoText(int choice) => EchoTexts?[choice / N];
}
