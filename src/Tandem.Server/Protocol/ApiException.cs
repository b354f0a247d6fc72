using Microsoft.AspNetCore.Http;

namespace Tandem.Server.Protocol;

/// <summary>
/// A request the API refuses, carrying exactly what the client sees: the HTTP status and the OpenAI error body
/// <c>{"error":{"message","type","param","code"}}</c>. Thrown while a request is read and validated, before any
/// work is queued, so refusing one request never disturbs the others.
/// </summary>
public sealed class ApiException(int statusCode, string message, string? param = null, string? code = null,
    string type = ApiException.InvalidRequest) : Exception(message)
{
    public const string InvalidRequest = "invalid_request_error";
    public const string ServerError = "server_error";
    /// <summary>llama.cpp's type for a 503: the server cannot take work now (loading, shutting down).</summary>
    public const string Unavailable = "unavailable_error";
    /// <summary>The type of a 429: the server refuses more work for now (admission control).</summary>
    public const string RateLimit = "rate_limit_error";

    public int StatusCode { get; } = statusCode;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    /// <summary>Sent as the Retry-After header (whole seconds, at least 1): when trying again may succeed.</summary>
    public TimeSpan? RetryAfter { get; init; }

    public static ApiException Invalid(string? param, string message) =>
        new(StatusCodes.Status400BadRequest, message, param);

    public static ApiException ModelNotFound(string model) =>
        new(StatusCodes.Status404NotFound, $"The model `{model}` does not exist.", "model", "model_not_found");

    public static ApiException ContextLengthExceeded(string param, string message) =>
        new(StatusCodes.Status400BadRequest, message, param, "context_length_exceeded");

    public static ApiException Unsupported(string param, string message) =>
        new(StatusCodes.Status400BadRequest, message, param, "unsupported_parameter");
}
