namespace Tandem.Engine.Sampling;

/// <summary>
/// Restricts which tokens may come next (structured output, tool calls): the sampler hands it the logits before any
/// other stage, so penalties, top-k/top-p/min-p and the draw only ever see tokens that keep the output valid. Its state
/// is the tokens it has taken, so a request resumed elsewhere rebuilds it by taking them again (<see cref="TryAcceptAll"/>).
/// </summary>
public interface ITokenConstraint
{
    /// <summary>Sets the logit of every token that may not come next to negative infinity. At least one token stays.</summary>
    void MaskLogits(Span<float> logits);

    /// <summary>True when the output may end here: an end-of-generation token then finishes it ("stop", not "length").</summary>
    bool IsComplete { get; }

    /// <summary>Takes a token if it may come next and returns true; returns false (state unchanged) if not.</summary>
    bool TryAccept(int token);

    /// <summary>Takes a sampled token; throws <see cref="InvalidOperationException"/> for one the mask did not allow.</summary>
    void Accept(int token)
    {
        if (!TryAccept(token))
            throw new InvalidOperationException($"token {token} cannot continue the constrained output here");
    }

    /// <summary>Takes tokens already generated (a request resumed on another worker); false at the first one not allowed.</summary>
    bool TryAcceptAll(ReadOnlySpan<int> tokens)
    {
        foreach (int t in tokens)
        {
            if (!TryAccept(t)) return false;
        }
        return true;
    }
}
