using Tandem.Engine.Sampling;
using Tandem.Engine.Structured;

namespace Tandem.Engine.Generation;

/// <summary>What to generate: how many tokens, how to sample, where to stop.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate (the prompt not counted).</summary>
    public int MaxTokens { get; init; } = 128;
    public SamplingParams Sampling { get; init; } = SamplingParams.Default;
    /// <summary>Strings that end generation; the text before one is returned, the string itself is not.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>Keep generating past end-of-generation tokens (for timing runs).</summary>
    public bool IgnoreEos { get; init; }
    /// <summary>Structured output: the text must be JSON of this grammar, enforced at every token (null: free text).</summary>
    public JsonGrammar? StructuredOutput { get; init; }
}
