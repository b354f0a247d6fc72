using Tandem.Engine.Sampling;

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
}
