using Microsoft.AspNetCore.Http;
using Tandem.Server.Hosting;
using Tandem.Server.Protocol;

namespace Tandem.Server.Models;

/// <summary>GET /v1/models and /v1/models/{id}: the one served model, in OpenAI's list / model shapes.</summary>
internal static class ModelsEndpoint
{
    public static Task ListAsync(HttpContext context) => ApiHandler.RunAsync(context, async (ctx, api) =>
    {
        using var json = new PooledJson();
        var w = json.Writer;
        w.WriteStartObject();
        w.WriteString("object", "list");
        w.WriteStartArray("data");
        WriteModel(w, api);
        w.WriteEndArray();
        w.WriteEndObject();
        ctx.Response.ContentType = "application/json";
        await json.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
    });

    public static Task GetAsync(HttpContext context) => ApiHandler.RunAsync(context, async (ctx, api) =>
    {
        string id = (string)ctx.Request.RouteValues["id"]!;
        if (!string.Equals(id, api.Options.ServedModelName, StringComparison.Ordinal))
            throw ApiException.ModelNotFound(id);
        using var json = new PooledJson();
        WriteModel(json.Writer, api);
        ctx.Response.ContentType = "application/json";
        await json.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
    });

    private static void WriteModel(System.Text.Json.Utf8JsonWriter w, TandemApi api)
    {
        w.WriteStartObject();
        w.WriteString("id", api.Options.ServedModelName);
        w.WriteString("object", "model");
        w.WriteNumber("created", StartedAt(api));
        w.WriteString("owned_by", "tandem");
        w.WriteNumber("max_model_len", api.Engine.MaxContext); // vLLM's extension: clients size prompts by it
        w.WriteEndObject();
    }

    private static long StartedAt(TandemApi api) => api.StartedAt.ToUnixTimeSeconds();
}
