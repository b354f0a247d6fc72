using System.Reflection;
using Microsoft.AspNetCore.Http;
using Tandem.Server.Hosting;
using Tandem.Server.Protocol;

namespace Tandem.Server.Info;

/// <summary>GET /version, vLLM's shape: <c>{"version": "..."}</c>, the build's informational version (open, like /health).</summary>
internal static class VersionEndpoint
{
    public static string Version { get; } =
        typeof(VersionEndpoint).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(VersionEndpoint).Assembly.GetName().Version?.ToString() ?? "unknown";

    public static Task HandleAsync(HttpContext context) => ApiHandler.RunAsync(context, async (ctx, _) =>
    {
        using var json = new PooledJson();
        json.Writer.WriteStartObject();
        json.Writer.WriteString("version", Version);
        json.Writer.WriteEndObject();
        ctx.Response.ContentType = "application/json";
        await json.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
    });
}
