using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Tandem.Planning.Replanning;
using Tandem.Planning.Search;
using Tandem.Server.Hosting;

namespace Tandem.Server.Planning;

/// <summary>
/// GET /plan: the placement running, the one the planner recommends for the traffic of the last window, and why
/// (DistServe's re-planning, as a recommendation: the running placement is not changed live). Without a plan
/// (<c>tandem serve --plan</c>) it says re-planning is off.
/// </summary>
internal static class PlanEndpoint
{
    public static Task HandleAsync(HttpContext context) => ApiHandler.RunAsync(context, async (ctx, api) =>
    {
        object body = api.Options.Replanner is { } replanner
            ? Describe(replanner)
            : new { Replanning = false, Reason = "re-planning is off: start the server with --plan plan.json (from 'tandem plan') to watch the workload against it" };
        ctx.Response.StatusCode = StatusCodes.Status200OK;
        ctx.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(ctx.Response.Body, body, body.GetType(), PlanFileJson.Options, ctx.RequestAborted);
    });

    private static object Describe(Replanner replanner)
    {
        var s = replanner.Status;
        return new
        {
            Replanning = true,
            WindowSeconds = replanner.Options.WindowSeconds,
            Threshold = replanner.Options.Threshold,
            s.Current,
            s.Recommended,
            s.ChangeRecommended,
            s.Reason,
            s.RecommendedAt,
            s.Replans,
            ReplanRunning = s.Replanning,
            s.PlannedFor,
            s.Observed,
        };
    }
}
