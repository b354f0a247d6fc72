namespace Tandem.Planning.Profiles;

/// <summary>
/// The three coefficients of one of DistServe's step-time models, in seconds: prefill <c>A + B·Σl + C·Σl²</c>
/// (l = tokens of each prompt chunk), decode <c>A + B·Σctx + C·batch</c>.
/// </summary>
public sealed record StepCoefficients(double A, double B, double C)
{
    public double Evaluate(double x1, double x2) => A + B * x1 + C * x2;
}
