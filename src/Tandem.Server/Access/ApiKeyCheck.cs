using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Tandem.Server.Protocol;

namespace Tandem.Server.Access;

/// <summary>
/// <c>Authorization: Bearer KEY</c> on the API routes (and on /metrics, /plan when a metrics key is set): 401 with an
/// OpenAI error body otherwise, before the body is read or any work is queued. Keys are compared as SHA-256 digests
/// with <see cref="CryptographicOperations.FixedTimeEquals"/>, against every key each time, so the time an answer
/// takes says nothing about how much of a guess was right, nor about a key's length.
/// </summary>
internal sealed class ApiKeyCheck
{
    private readonly byte[][] _apiKeys;
    private readonly byte[][] _metricsKeys;

    public ApiKeyCheck(TandemAccessOptions options)
    {
        _apiKeys = options.ApiKeys.Select(Digest).ToArray();
        _metricsKeys = options.MetricsApiKey is { } m ? [Digest(m)] : [];
    }

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var path = context.Request.Path;
        byte[][] keys = ProtectedRoutes.IsApi(path) ? _apiKeys : ProtectedRoutes.IsMonitoring(path) ? _metricsKeys : [];
        if (keys.Length == 0 || HttpMethods.IsOptions(context.Request.Method) || Presented(context.Request) is { } key && Matches(key, keys))
        {
            await next(context);
            return;
        }
        bool sent = context.Request.Headers.Authorization.Count > 0;
        context.Response.Headers[HeaderNames.WWWAuthenticate] = "Bearer";
        await ErrorBody.WriteResponseAsync(context, StatusCodes.Status401Unauthorized,
            sent ? "Incorrect API key provided. Send one of the server's keys as 'Authorization: Bearer KEY'."
                 : "You didn't provide an API key. Send it as 'Authorization: Bearer KEY'.",
            ApiException.InvalidRequest, null, "invalid_api_key");
    }

    /// <summary>The key of an <c>Authorization: Bearer KEY</c> header (the scheme in any case), or null.</summary>
    private static string? Presented(HttpRequest request)
    {
        string? header = request.Headers.Authorization;
        const string scheme = "Bearer ";
        if (header is null || !header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return null;
        return header[scheme.Length..].Trim();
    }

    /// <summary>True when <paramref name="key"/> is one of <paramref name="keys"/>; looks at every key whatever matches.</summary>
    internal static bool Matches(string key, byte[][] keys)
    {
        byte[] digest = Digest(key);
        bool match = false;
        foreach (var k in keys)
            match |= CryptographicOperations.FixedTimeEquals(digest, k);
        return match;
    }

    internal static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
