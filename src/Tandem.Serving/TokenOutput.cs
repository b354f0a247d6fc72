using Tandem.Engine.Sampling;

namespace Tandem.Serving;

/// <summary>
/// One generated token as streamed to the client: its id, the text it releases (empty while a partial
/// UTF-8 character or a possible stop string is held back; the final flush has TokenId -1), and its
/// log-probability and top alternatives when the request asked for them.
/// </summary>
public readonly record struct TokenOutput(int TokenId, string Text, TokenLogProb LogProb, TokenLogProb[]? TopLogProbs)
{
    /// <summary>
    /// The sampler's random generator right after this token (null for greedy requests): a cluster worker sends it
    /// along, so a request recomputed elsewhere continues the same random stream.
    /// </summary>
    public Xoshiro256StarStar? RandomState { get; init; }
}
