namespace Tandem.Planning.Profiles;

/// <summary>
/// The decode model for batches of up to <see cref="MaxBatch"/> requests (null: any size). DistServe's A100 profiles
/// fit small and large batches separately (split at 95): a GPU decode step is flat while the batch only fills idle
/// compute, then grows; one line through both ranges would be wrong at both ends.
/// </summary>
public sealed record DecodePiece(int? MaxBatch, StepCoefficients Coefficients);
