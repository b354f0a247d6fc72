using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Tandem.Server.Protocol;
using Tandem.Serving;

namespace Tandem.Server.Hosting;

/// <summary>
/// Runs an endpoint so that every failure becomes an OpenAI error body: <see cref="ApiException"/> as it says, a
/// request the engine could not run for now (an instance whose loop died, no worker of a role) as a 503, anything
/// else as a 500 (logged). One bad request never takes the server or another request down.
/// </summary>
internal static class ApiHandler
{
    public static async Task RunAsync(HttpContext context, Func<HttpContext, TandemApi, Task> handler)
    {
        var api = context.RequestServices.GetRequiredService<TandemApi>();
        try
        {
            await handler(context, api);
        }
        catch (ApiException e)
        {
            await ErrorBody.WriteResponseAsync(context, e);
        }
        catch (RequestRejectedException e) when (e.IsTemporary)
        {
            // Accepted, then failed because the instance it needed went away: the server is up, retrying may work.
            await ErrorBody.WriteResponseAsync(context, StatusCodes.Status503ServiceUnavailable, e.Message, ApiException.Unavailable, null, e.Code);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client left; nothing to answer.
        }
        catch (Exception e)
        {
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Tandem.Server")
                .LogError(e, "request {Path} failed", context.Request.Path);
            await ErrorBody.WriteResponseAsync(context, StatusCodes.Status500InternalServerError,
                $"The server failed to handle the request: {e.Message}", ApiException.ServerError, null, null);
        }
    }
}
