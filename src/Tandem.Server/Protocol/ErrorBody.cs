using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Tandem.Server.Protocol;

/// <summary>Writes OpenAI-shaped error bodies, as a whole response or as one server-sent event of a stream already under way.</summary>
internal static class ErrorBody
{
    public static void Write(Utf8JsonWriter w, string message, string type, string? param, string? code)
    {
        w.WriteStartObject();
        w.WriteStartObject("error");
        w.WriteString("message", message);
        w.WriteString("type", type);
        if (param is null) w.WriteNull("param"); else w.WriteString("param", param);
        if (code is null) w.WriteNull("code"); else w.WriteString("code", code);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public static async Task WriteResponseAsync(HttpContext context, int status, string message, string type, string? param, string? code)
    {
        if (context.Response.HasStarted)
            return;
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        using var buffer = new PooledJson();
        Write(buffer.Writer, message, type, param, code);
        await buffer.CopyToAsync(context.Response.Body, context.RequestAborted);
    }

    public static Task WriteResponseAsync(HttpContext context, ApiException e)
    {
        if (e.RetryAfter is { } after && !context.Response.HasStarted)
            context.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(after.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return WriteResponseAsync(context, e.StatusCode, e.Message, e.Type, e.Param, e.Code);
    }
}
