namespace Tandem.Engine.Generation;

/// <summary>The outcome of one generation, with the timings of its two phases.</summary>
public sealed record GenerationResult
{
    public required string Text { get; init; }
    public required IReadOnlyList<int> Tokens { get; init; }
    public required int PromptTokens { get; init; }
    public required FinishReason FinishReason { get; init; }
    /// <summary>The stop string that ended generation, if one did.</summary>
    public string? StopString { get; init; }
    public required TimeSpan PrefillTime { get; init; }
    public required TimeSpan DecodeTime { get; init; }

    public double PrefillTokensPerSecond => PromptTokens / Math.Max(1e-9, PrefillTime.TotalSeconds);
    /// <summary>Decode speed over the tokens after the first (the first comes out of prefill).</summary>
    public double DecodeTokensPerSecond => Math.Max(0, Tokens.Count - 1) / Math.Max(1e-9, DecodeTime.TotalSeconds);
}
