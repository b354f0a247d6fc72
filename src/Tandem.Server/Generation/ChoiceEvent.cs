using Tandem.Serving;

namespace Tandem.Server.Generation;

/// <summary>One step of a merged stream: a token of choice <see cref="Index"/>, or its end.</summary>
internal readonly record struct ChoiceEvent(int Index, TokenOutput TokenOutput, RequestOutcome? Outcome)
{
    public static ChoiceEvent Token(int index, TokenOutput token) => new(index, token, null);
    public static ChoiceEvent Finished(int index, RequestOutcome outcome) => new(index, default, outcome);
}
