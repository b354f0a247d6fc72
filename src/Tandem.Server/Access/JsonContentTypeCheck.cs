using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Tandem.Server.Protocol;

namespace Tandem.Server.Access;

/// <summary>
/// A POST to the API must say its body is JSON (<c>application/json</c> or <c>application/*+json</c>): anything else
/// gets 415. A web page can send a <c>text/plain</c> or form POST to a local server without a CORS preflight; refusing
/// it here means such a page cannot start generations, even on a server without an API key.
/// </summary>
internal static class JsonContentTypeCheck
{
    public static async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        if (!HttpMethods.IsPost(request.Method) || !ProtectedRoutes.IsApi(request.Path) || IsJson(request.ContentType))
        {
            await next(context);
            return;
        }
        await ErrorBody.WriteResponseAsync(context, StatusCodes.Status415UnsupportedMediaType,
            $"The request body must be JSON, sent with 'Content-Type: application/json'; got {(request.ContentType is { Length: > 0 } t ? $"'{t}'" : "no Content-Type")}.",
            ApiException.InvalidRequest, null, "unsupported_media_type");
    }

    internal static bool IsJson(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var media) || media.MediaType is not { HasValue: true } type)
            return false;
        return type.Equals("application/json", StringComparison.OrdinalIgnoreCase) ||
               type.Value!.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && type.Value.EndsWith("+json", StringComparison.OrdinalIgnoreCase);
    }
}
