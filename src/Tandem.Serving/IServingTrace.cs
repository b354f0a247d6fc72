namespace Tandem.Serving;

/// <summary>One chunk of a traced step: <see cref="Tokens"/> tokens of request <see cref="RequestId"/>.</summary>
public readonly record struct TracedChunk(string RequestId, int Tokens);

/// <summary>
/// Receives what each instance loop does, on the runtime's clock: when it took a request in and every step it ran
/// (what was scheduled, what was pulled). For replaying a run in the simulator and checking both schedule the same
/// batches; null (the default) costs nothing. Called from the instance threads, concurrently.
/// </summary>
public interface IServingTrace
{
    /// <summary><paramref name="instance"/> took <paramref name="requestId"/> from its inbox at <paramref name="time"/> (a prompt, or a prefilled request to pull).</summary>
    void OnIntake(string instance, string requestId, double time);
    /// <summary>A step of <paramref name="instance"/>: scheduled at <paramref name="start"/>, done at <paramref name="end"/>.</summary>
    void OnStep(string instance, double start, double end, IReadOnlyList<TracedChunk> chunks, IReadOnlyList<string> pulled);
}
