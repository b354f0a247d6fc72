using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.HostFiltering;
using Microsoft.Extensions.DependencyInjection;
using Tandem.Server.Protocol;

namespace Tandem.Server.Access;

/// <summary>
/// The access checks in the order a request meets them: Host header (ASP.NET Core's host filtering), CORS
/// (its CORS middleware, which answers preflights), API key, JSON content type. Each is off unless configured,
/// except the content-type check, which costs a legitimate client nothing.
/// </summary>
internal static class AccessPipeline
{
    private const string HostAccepted = "tandem.host-accepted";

    public static IServiceCollection AddTandemAccess(this IServiceCollection services, TandemAccessOptions options)
    {
        if (options.AllowedHosts.Count > 0)
        {
            // The web host puts its own host filtering first in the pipeline (a startup filter), where a refusal is a
            // bare 400 that not even the response metrics see; it is run below instead, inside the error writer.
            foreach (var builtIn in services.Where(d => d.ServiceType == typeof(IStartupFilter) && d.ImplementationType?.Name == "HostFilteringStartupFilter").ToList())
                services.Remove(builtIn);
            services.Configure<HostFilteringOptions>(h =>
            {
                h.AllowedHosts = [.. options.AllowedHosts];
                h.IncludeFailureMessage = false; // the refusal is written in the API's error shape below
            });
        }
        if (options.AllowedOrigins.Count > 0)
        {
            services.AddCors(cors => cors.AddDefaultPolicy(policy =>
            {
                if (options.AllowedOrigins.Contains("*"))
                    policy.AllowAnyOrigin();
                else
                    policy.WithOrigins([.. options.AllowedOrigins]);
                // Browsers send Authorization and Content-Type only after a preflight that allows them.
                policy.AllowAnyHeader().AllowAnyMethod();
            }));
        }
        return services;
    }

    public static IApplicationBuilder UseTandemAccess(this IApplicationBuilder app, TandemAccessOptions options)
    {
        if (options.AllowedHosts.Count > 0)
        {
            // Host filtering answers a refused Host with a bare 400; when the request never got past it, say why.
            app.Use(async (context, next) =>
            {
                await next(context);
                if (!context.Items.ContainsKey(HostAccepted) && !context.Response.HasStarted)
                {
                    context.Response.ContentLength = null; // host filtering set it for its own (empty) body
                    await ErrorBody.WriteResponseAsync(context, StatusCodes.Status400BadRequest,
                        $"The Host header '{context.Request.Host}' is not one this server answers to (--allowed-hosts).",
                        ApiException.InvalidRequest, null, "host_not_allowed");
                }
            });
            app.UseHostFiltering();
            app.Use((context, next) =>
            {
                context.Items[HostAccepted] = true;
                return next(context);
            });
        }
        if (options.AllowedOrigins.Count > 0)
            app.UseCors();
        app.Use(new ApiKeyCheck(options).InvokeAsync);
        app.Use(JsonContentTypeCheck.InvokeAsync);
        return app;
    }
}
