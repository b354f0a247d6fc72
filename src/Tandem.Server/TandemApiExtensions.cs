using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tandem.Server.Chat;
using Tandem.Server.Completions;
using Tandem.Server.Health;
using Tandem.Server.Hosting;
using Tandem.Server.Metrics;
using Tandem.Server.Models;
using Tandem.Server.Planning;
using Tandem.Server.Tokenization;
using Tandem.Server.Info;
using Tandem.Server.Logging;
using Tandem.Serving;

namespace Tandem.Server;

/// <summary>The OpenAI-compatible API as one feature: <see cref="AddTandemApi"/> registers it, <see cref="MapTandemApi"/> routes it.</summary>
public static class TandemApiExtensions
{
    /// <summary>
    /// Registers the API over <paramref name="engine"/> (not owned: the caller disposes it after the host stops), and its
    /// graceful shutdown (<see cref="ShutdownDrain"/>): give the host a ShutdownTimeout longer than
    /// <see cref="TandemApiOptions.ShutdownTimeout"/>, as <see cref="TandemServer"/> does.
    /// Throws <see cref="Tandem.Engine.Chat.ChatTemplateException"/> for an unknown chat template name.
    /// </summary>
    public static IServiceCollection AddTandemApi(this IServiceCollection services, IServingEngine engine, Action<TandemApiOptions>? configure = null)
    {
        var options = new TandemApiOptions();
        configure?.Invoke(options);
        services.AddSingleton(sp => new ShutdownDrain(options.ShutdownTimeout, sp.GetService<IHostApplicationLifetime>(), sp.GetService<TimeProvider>()));
        services.AddHostedService(sp => sp.GetRequiredService<ShutdownDrain>());
        services.AddHostedService<ServingStatsLog>();
        services.AddSingleton(sp => new TandemApi(engine, options, sp.GetService<TimeProvider>(), sp.GetRequiredService<ShutdownDrain>(), sp.GetService<ILoggerFactory>()));
        return services;
    }

    /// <summary>
    /// POST /v1/completions, POST /v1/chat/completions, GET /v1/models[/{id}], POST /tokenize, POST /detokenize,
    /// GET /version, GET /health, GET /health/ready, GET /metrics, GET /plan.
    /// </summary>
    public static IEndpointRouteBuilder MapTandemApi(this IEndpointRouteBuilder endpoints)
    {
        var v1 = endpoints.MapGroup("/v1");
        v1.MapPost("/completions", CompletionsEndpoint.HandleAsync);
        v1.MapPost("/chat/completions", ChatCompletionsEndpoint.HandleAsync);
        v1.MapGet("/models", ModelsEndpoint.ListAsync);
        v1.MapGet("/models/{id}", ModelsEndpoint.GetAsync);
        // Unknown paths under /v1 answer in OpenAI's error shape too, so SDKs show the message rather than a bare 404.
        v1.MapFallback("{**path}", context => ApiHandler.RunAsync(context, (ctx, _) =>
            throw new Protocol.ApiException(StatusCodes.Status404NotFound, $"Unknown endpoint: {ctx.Request.Method} {ctx.Request.Path}.", null, "unknown_url")));
        endpoints.MapPost("/tokenize", TokenizeEndpoint.HandleAsync);
        endpoints.MapPost("/detokenize", DetokenizeEndpoint.HandleAsync);
        endpoints.MapGet("/version", VersionEndpoint.HandleAsync);
        endpoints.MapGet("/health", HealthEndpoint.HandleAsync);
        endpoints.MapGet("/health/ready", HealthEndpoint.ReadyAsync);
        endpoints.MapGet("/metrics", MetricsEndpoint.HandleAsync);
        endpoints.MapGet("/plan", PlanEndpoint.HandleAsync);
        return endpoints;
    }
}
