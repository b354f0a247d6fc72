using Tandem.Engine.Sampling;

namespace Tandem.Engine.Generation;

/// <summary>
/// One generated token as it is produced: its id, the text it releases (may be empty while a partial
/// UTF-8 character or a possible stop string is held back), and its log-probabilities when asked for.
/// Id is -1 for the last callback of a generation that releases text held back until the end.
/// </summary>
public readonly record struct GeneratedToken(int Id, string Text, TokenLogProb LogProb, TokenLogProb[]? TopLogProbs);
