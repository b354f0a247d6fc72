namespace Tandem.Engine.Sampling;

/// <summary>A token and its natural-log probability under the model's raw distribution.</summary>
public readonly record struct TokenLogProb(int TokenId, float LogProb);
