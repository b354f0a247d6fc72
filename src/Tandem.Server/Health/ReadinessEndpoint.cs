using Microsoft.AspNetCore.Http;
using Tandem.Server.Hosting;
using Tandem.Server.Protocol;

namespace Tandem.Server.Health;

/// <summary>
/// GET /health/ready: 200 <c>{"status":"ready"}</c> once the server can take work, 503 <c>{"status":"stopping"}</c>
/// from the start of the drain. The HTTP server starts only after the model is loaded and the runtime runs, so an
/// answer at all means loaded: an orchestrator's readiness probe (Kubernetes sends no traffic to a pod until it
/// passes) waits for the load, while liveness stays on /health.
/// </summary>
internal static class ReadinessEndpoint
{
    public static Task HandleAsync(HttpContext context) => ApiHandler.RunAsync(context, async (ctx, api) =>
    {
        bool stopping = api.Shutdown.IsDraining;
        using var json = new PooledJson();
        var w = json.Writer;
        w.WriteStartObject();
        w.WriteString("status", stopping ? "stopping" : "ready");
        w.WriteEndObject();
        ctx.Response.StatusCode = stopping ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
        ctx.Response.ContentType = "application/json";
        await json.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
    });
}
