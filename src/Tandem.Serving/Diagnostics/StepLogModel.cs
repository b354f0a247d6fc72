namespace Tandem.Serving.Diagnostics;

/// <summary>
/// The model an instance ran, as its step log records it: the file's name (for messages) and the model's fingerprint
/// (<c>Tandem.Engine.Model.ModelFingerprint</c>: architecture, shapes, types and every weight byte), which is what
/// decides whether a replay runs the same model. Timing one model's batches on another gives ratios that mean nothing.
/// </summary>
public sealed record StepLogModel(string File, string Fingerprint);
