using Microsoft.AspNetCore.Http;
using Tandem.Server.Hosting;
using Tandem.Server.Protocol;

namespace Tandem.Server.Health;

/// <summary>
/// GET /health: 200 with a summary of the instances while the server takes work; 503 from the moment it starts
/// shutting down (the drain: a load balancer stops sending while requests in flight finish), and 503
/// <c>"status":"unhealthy"</c> with <c>problems</c> naming each instance whose loop died or is stuck with work
/// (<see cref="InstanceHealth"/>), so an orchestrator restarts the process. A cluster frontend shows its workers'
/// failures but stays 200 for them: each worker's own /health asks for its restart.
/// </summary>
internal static class HealthEndpoint
{
    public static Task HandleAsync(HttpContext context) => ApiHandler.RunAsync(context, async (ctx, api) =>
    {
        bool stopping = api.Shutdown.IsDraining;
        var snapshot = api.Engine.Snapshot();
        bool remote = api.Engine is Cluster.ClusterEngine;
        List<string> problems = remote ? [] : snapshot.Instances.Select(i => InstanceHealth.Problem(i, api.Options.StallTimeout)).OfType<string>().ToList();
        using var json = new PooledJson();
        var w = json.Writer;
        w.WriteStartObject();
        w.WriteString("status", stopping ? "stopping" : problems.Count > 0 ? "unhealthy" : "ok");
        if (problems.Count > 0)
        {
            w.WriteStartArray("problems");
            foreach (var p in problems) w.WriteStringValue(p);
            w.WriteEndArray();
        }
        w.WriteString("model", api.Options.ServedModelName);
        w.WriteNumber("max_context", api.Engine.MaxContext);
        w.WriteNumber("requests_waiting", snapshot.RequestsWaiting);
        w.WriteNumber("requests_running", snapshot.RequestsRunning);
        w.WriteStartArray("instances");
        foreach (var i in snapshot.Instances)
        {
            w.WriteStartObject();
            w.WriteString("name", i.Name);
            w.WriteString("role", i.Role);
            w.WriteBoolean("up", i.Up);
            w.WriteStartArray("cores");
            foreach (int core in i.Cores) w.WriteNumberValue(core);
            w.WriteEndArray();
            w.WriteNumber("waiting", i.Waiting);
            w.WriteNumber("waiting_tokens", i.WaitingTokens);
            w.WriteNumber("running", i.Running);
            w.WriteNumber("kv_blocks_used", i.KvBlocksUsed);
            w.WriteNumber("kv_blocks_total", i.KvBlocksTotal);
            w.WriteNumber("kv_blocks_cached", i.KvBlocksCached);
            if (i.Failure is { } failure) w.WriteString("failure", failure);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        ctx.Response.StatusCode = stopping || problems.Count > 0 ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
        ctx.Response.ContentType = "application/json";
        await json.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
    });

    /// <summary>
    /// GET /health/ready, the readiness probe: 200 once the engine takes requests (the model is loaded; a cluster
    /// frontend has at least one worker of each role) and the warm-up requests (<see cref="ServingWarmUp"/>) are done, 503 with the reason before that and while draining.
    /// </summary>
    public static Task ReadyAsync(HttpContext context) => ApiHandler.RunAsync(context, async (ctx, api) =>
    {
        string? reason = api.Shutdown.IsDraining ? "the server is shutting down" : api.Engine.NotReadyReason ?? api.WarmUp.NotReadyReason;
        await WriteReadinessAsync(ctx, reason);
    });

    /// <summary>{"status":"ready"} with 200, or {"status":"not_ready","reason":...} with 503.</summary>
    public static async Task WriteReadinessAsync(HttpContext ctx, string? notReadyReason)
    {
        using var json = new PooledJson();
        var w = json.Writer;
        w.WriteStartObject();
        w.WriteString("status", notReadyReason == null ? "ready" : "not_ready");
        if (notReadyReason != null) w.WriteString("reason", notReadyReason);
        w.WriteEndObject();
        ctx.Response.StatusCode = notReadyReason == null ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        ctx.Response.ContentType = "application/json";
        await json.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
    }
}
