using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Grpc.AspNetCore.Web;
using Tandem.Server.Access;
using Tandem.Server.Cluster;
using Tandem.Server.Hosting;
using Tandem.Server.Logging;
using Tandem.Server.Telemetry;
using Tandem.Serving;

namespace Tandem.Server;

/// <summary>
/// A Kestrel host serving the Tandem API over a running <see cref="IServingEngine"/>: what <c>tandem serve</c>
/// and the functional tests both start. Does not own the engine.
/// </summary>
public sealed class TandemServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    /// <summary>Time past the grace period for cut requests to end (the runtime stops them at its next step) and answer.</summary>
    public static readonly TimeSpan ShutdownFinishAllowance = TimeSpan.FromSeconds(10);

    private TandemServer(WebApplication app) => _app = app;

    public static TandemServer Create(IServingEngine engine, TandemServerOptions options)
    {
        var builder = WebApplication.CreateSlimBuilder();
        ServerLogging.Configure(builder.Logging, options.LogLevel, options.LogFormat);
        OtlpTracing.AddTo(builder.Services, options.OtlpEndpoint, engine is ClusterEngine ? "frontend" : "all");
        // The drain takes the API's grace period; the host's own timeout adds time for the cut requests to send their
        // last chunk and for Kestrel to close, and only then aborts connections.
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.Api.ShutdownTimeout + ShutdownFinishAllowance);
        builder.WebHost.ConfigureKestrel(k =>
        {
            KestrelListen.On(k, options.Host, options.Port);
            if (options.MinRequestBodyDataRate is { } rate)
                k.Limits.MinRequestBodyDataRate = rate;
        });
        builder.Services.AddTandemApi(engine, api =>
        {
            var o = options.Api;
            api.ServedModelName = o.ServedModelName;
            api.ChatTemplateName = o.ChatTemplateName;
            api.ChatTemplateFile = o.ChatTemplateFile;
            api.ModelChatTemplate = o.ModelChatTemplate;
            api.MaxRequestBodyBytes = o.MaxRequestBodyBytes;
            api.MaxChoices = o.MaxChoices;
            api.ShutdownTimeout = o.ShutdownTimeout;
            api.Replanner = o.Replanner;
            api.MaxWaitingRequests = o.MaxWaitingRequests;
            api.SloTtft = o.SloTtft;
            api.PrefillProfile = o.PrefillProfile;
            api.RequestTimeout = o.RequestTimeout;
            api.StallTimeout = o.StallTimeout;
            api.StatsLogInterval = o.StatsLogInterval;
        });
        builder.Services.AddTandemAccess(options.Access);
        if (engine is ClusterEngine cluster) builder.Services.AddClusterGrpc(cluster.Options.Token).AddSingleton(cluster);
        var app = builder.Build();
        // First, so every answer counts, refusals by the access checks included.
        // Resolving the API now also makes a bad chat template name fail start-up, not the first chat request.
        var metrics = app.Services.GetRequiredService<TandemApi>().Metrics;
        app.Use(async (context, next) =>
        {
            try { await next(context); }
            finally
            {
                if (!WarmUpRequest.IsWarmUp(context)) metrics.CountResponse(context.Response.StatusCode);
            }
        });
        // Before routing: a refused request never reaches an endpoint, and the checks see every path (unknown /v1 ones too).
        app.UseTandemAccess(options.Access);
        if (engine is ClusterEngine)
        {
            // Workers started with --frontend register here, on the API's own port (gRPC-Web over HTTP/1.1).
            app.UseRouting();
            app.UseGrpcWeb(new GrpcWebOptions { DefaultEnabled = true });
            app.MapGrpcService<FrontendService>();
        }
        app.MapTandemApi();
        return new TandemServer(app);
    }

    public TandemApi Api => _app.Services.GetRequiredService<TandemApi>();

    /// <summary>The bound address (e.g. http://127.0.0.1:41234), known once started.</summary>
    public Uri Address
    {
        get
        {
            var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
            string first = addresses?.FirstOrDefault() ?? throw new InvalidOperationException("the server has not started");
            return new Uri(first);
        }
    }

    /// <summary>
    /// Stops when <see cref="StopAsync"/> is called or the process gets Ctrl+C / SIGTERM (the host's lifetime handles
    /// both): new generation requests get 503 at once, those in flight finish or are cut after
    /// <see cref="TandemApiOptions.ShutdownTimeout"/> (<see cref="ShutdownDrain"/>).
    /// </summary>
    public IHostApplicationLifetime Lifetime => _app.Lifetime;

    public Task StartAsync(CancellationToken cancellation = default) => _app.StartAsync(cancellation);

    /// <summary>
    /// Once started: sends the warm-up requests to itself (<see cref="ServingWarmUp"/>); /health/ready says 503 from
    /// the call until they are done. <paramref name="blockSize"/>: tokens per KV block (the runtime's or the workers').
    /// </summary>
    public Task<ServingWarmUp.Report> WarmUpAsync(TandemAccessOptions access, int blockSize, CancellationToken cancellation = default)
    {
        Api.WarmUp.Expect();
        return Api.WarmUp.RunAsync(Api, Address, access, blockSize, cancellation);
    }

    public Task WaitForShutdownAsync(CancellationToken cancellation = default) => _app.WaitForShutdownAsync(cancellation);

    public Task StopAsync(CancellationToken cancellation = default) => _app.StopAsync(cancellation);

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
