namespace Tandem.Planning.Profiles;

/// <summary>How well a fitted model predicts points it was not fitted to: relative error |predicted − measured| / measured.</summary>
public sealed record FitError(int FittedPoints, int HeldOutPoints, double MeanRelativeError, double MaxRelativeError);
