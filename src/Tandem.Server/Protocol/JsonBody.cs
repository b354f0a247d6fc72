using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Tandem.Server.Protocol;

/// <summary>Reads a request body as JSON within a size limit: 413 past the limit, 400 when it does not parse.</summary>
internal static class JsonBody
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 64 };

    public static async Task<JsonDocument> ReadAsync(HttpContext context, long maxBytes)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = maxBytes;
        if (context.Request.ContentLength > maxBytes)
            throw TooLarge(maxBytes);
        try
        {
            return await JsonDocument.ParseAsync(context.Request.Body, Options, context.RequestAborted);
        }
        catch (JsonException e)
        {
            throw new ApiException(StatusCodes.Status400BadRequest,
                $"We could not parse the JSON body of your request: {e.Message}", null, "invalid_json");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(maxBytes);
        }
    }

    private static ApiException TooLarge(long maxBytes) =>
        new(StatusCodes.Status413PayloadTooLarge, $"The request body is larger than the server accepts ({maxBytes} bytes).", null, "request_too_large");
}
