using System.Text;
using Tandem.Serving;

namespace Tandem.Server.Generation;

/// <summary>One choice of a non-streamed response: its text, its tokens (kept only when log-probabilities were asked for) and how it ended.</summary>
internal sealed class ChoiceResult(int index)
{
    public int Index { get; } = index;
    public StringBuilder Text { get; } = new();
    public List<TokenOutput> Tokens { get; } = [];
    public RequestOutcome? Outcome { get; set; }
}
