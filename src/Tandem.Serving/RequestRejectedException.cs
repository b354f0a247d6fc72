namespace Tandem.Serving;

/// <summary>A request that can never be served as asked (the API layer answers 400 with this message).</summary>
public sealed class RequestRejectedException(string message, string code = "invalid_request") : Exception(message)
{
    /// <summary>A short machine-readable reason, e.g. "context_length_exceeded".</summary>
    public string Code { get; } = code;
}
