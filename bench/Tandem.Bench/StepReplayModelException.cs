namespace Tandem.Bench;

/// <summary><c>steps --replay</c> was given a model other than the one the step log's server ran.</summary>
public sealed class StepReplayModelException(string message) : Exception(message);
