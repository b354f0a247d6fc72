namespace Tandem.Serving.Scheduling;

/// <summary>
/// One entry of a step: <see cref="NumTokens"/> tokens of <see cref="Request"/> starting at its
/// NumComputedTokens. <see cref="SamplesToken"/> when the chunk reaches the end of the request's tokens
/// (its last prompt chunk, or a decode token): only then are logits computed and a token sampled.
/// </summary>
public readonly record struct ScheduledChunk(Request Request, int NumTokens)
{
    public bool SamplesToken => Request.NumComputedTokens + NumTokens == Request.NumTokens;
}
