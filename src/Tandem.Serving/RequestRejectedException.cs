namespace Tandem.Serving;

/// <summary>A request that can never be served as asked (the API layer answers 400 with this message, or 503 when <see cref="IsTemporary"/>).</summary>
public sealed class RequestRejectedException(string message, string code = "invalid_request") : Exception(message)
{
    /// <summary>A short machine-readable reason, e.g. "context_length_exceeded".</summary>
    public string Code { get; } = code;

    /// <summary>
    /// The request is fine but cannot run now (no worker of a role is connected): the API layer answers 503 so
    /// the client retries, as it does while a server loads or drains.
    /// </summary>
    public bool IsTemporary { get; init; }
}
