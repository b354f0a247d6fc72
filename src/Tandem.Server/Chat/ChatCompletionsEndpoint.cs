using Microsoft.AspNetCore.Http;
using Tandem.Server.Generation;
using Tandem.Server.Hosting;
using Tandem.Server.Protocol;

namespace Tandem.Server.Chat;

/// <summary>POST /v1/chat/completions.</summary>
internal static class ChatCompletionsEndpoint
{
    public static Task HandleAsync(HttpContext context) => ApiHandler.RunAsync(context, async (ctx, api) =>
    {
        using var inFlight = api.Shutdown.Admit();
        using var body = await JsonBody.ReadAsync(ctx, api.Options.MaxRequestBodyBytes);
        var plan = ChatRequestParser.Parse(body.RootElement, ctx.Request, api.Engine, api.Options, api.Chat);
        var format = api.ChatFormat.ForToolCalls(plan);
        string id = ChoiceResponder.NewId(format.IdPrefix);
        using var run = ChoiceRun.Start(api, plan, id, tracked: !WarmUpRequest.IsWarmUp(ctx));
        await ChoiceResponder.WriteAsync(ctx, run, format, id, plan.Model, ChoiceResponder.Now(api.Time));
    });
}
