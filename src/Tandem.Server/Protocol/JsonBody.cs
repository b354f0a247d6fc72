using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Tandem.Server.Protocol;

/// <summary>
/// Reads a request body as JSON within a size limit: 413 past the limit, 408 when it arrives slower than Kestrel's
/// minimum data rate, 400 when it does not parse or a string in it is not Unicode text.
/// </summary>
internal static class JsonBody
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 64 };

    /// <summary>
    /// Bodies over the limit are still read to their end (up to this many extra bytes) before the 413 goes out:
    /// a server that answers while the client is still sending makes the client see a reset connection
    /// instead of the error body.
    /// </summary>
    private const long DrainAllowance = 64L << 20;

    public static async Task<JsonDocument> ReadAsync(HttpContext context, long maxBytes)
    {
        long drainCap = maxBytes + DrainAllowance;
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = drainCap;
        var body = context.Request.Body;
        var ct = context.RequestAborted;
        if (context.Request.ContentLength > drainCap)
            throw TooLarge(maxBytes); // too large even to drain: Kestrel closes the connection after the 413
        // Sized from Content-Length (within the limit) so a large body is not copied through doubling buffers.
        var buffer = new MemoryStream((int)Math.Min(context.Request.ContentLength ?? 0, maxBytes));
        try
        {
            var chunk = new byte[16 << 10];
            int read;
            while ((read = await body.ReadAsync(chunk, ct)) > 0)
            {
                if (buffer.Length + read > maxBytes)
                {
                    while (await body.ReadAsync(chunk, ct) > 0) { } // drain, then refuse
                    throw TooLarge(maxBytes);
                }
                buffer.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's own refusals while the body is read: its status is the right answer, in the API's shape.
            throw e.StatusCode switch
            {
                StatusCodes.Status413PayloadTooLarge => TooLarge(maxBytes),
                StatusCodes.Status408RequestTimeout => new ApiException(StatusCodes.Status408RequestTimeout,
                    $"The request body arrived too slowly: {e.Message}", null, "request_timeout"),
                _ => new ApiException(e.StatusCode, $"The request body could not be read: {e.Message}", null, "invalid_request_body"),
            };
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), Options);
        }
        catch (JsonException e)
        {
            throw new ApiException(StatusCodes.Status400BadRequest,
                $"We could not parse the JSON body of your request: {e.Message}", null, "invalid_json");
        }
        try
        {
            JsonTextCheck.Validate(document.RootElement);
        }
        catch
        {
            document.Dispose();
            throw;
        }
        return document;
    }

    private static ApiException TooLarge(long maxBytes) =>
        new(StatusCodes.Status413PayloadTooLarge, $"The request body is larger than the server accepts ({maxBytes} bytes).", null, "request_too_large");
}
