namespace Tandem.Engine.Sampling;

/// <summary>
/// Restricts which tokens may come next (structured output): the sampler hands it the logits before any other
/// stage, so penalties, top-k/top-p/min-p and the draw only ever see tokens that keep the output valid.
/// </summary>
public interface ITokenConstraint
{
    /// <summary>Sets the logit of every token that may not come next to negative infinity. At least one token stays.</summary>
    void MaskLogits(Span<float> logits);
}
