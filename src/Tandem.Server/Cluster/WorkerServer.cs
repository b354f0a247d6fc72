using Grpc.AspNetCore.Web;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Tandem.Server.Health;
using Tandem.Server.Hosting;
using Tandem.Server.Logging;
using Tandem.Server.Telemetry;
using Tandem.Server.Protocol;
using Tandem.Serving.Workers;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Cluster;

/// <summary>
/// A Kestrel host for one cluster worker (<c>tandem serve --role prefill|decode</c>): the Worker gRPC service
/// (Protos/worker.proto) and GET /health, /health/ready on one port. With a frontend address it also registers
/// there, at start and every heartbeat after, so a restarted frontend finds it again. Does not own the worker.
/// </summary>
public sealed class WorkerServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly WorkerRuntime _worker;
    private readonly WorkerServerOptions _options;
    private readonly ClusterChannels _channels;
    private readonly CancellationTokenSource _stop = new();
    private Task _registration = Task.CompletedTask;

    private WorkerServer(WebApplication app, WorkerRuntime worker, WorkerServerOptions options, ClusterChannels channels)
    {
        _app = app;
        _worker = worker;
        _options = options;
        _channels = channels;
    }

    public static WorkerServer Create(WorkerRuntime worker, WorkerServerOptions options)
    {
        var builder = WebApplication.CreateSlimBuilder();
        ServerLogging.Configure(builder.Logging, options.LogLevel, options.LogFormat);
        OtlpTracing.AddTo(builder.Services, options.OtlpEndpoint, ClusterProtocol.RoleName(worker.Role));
        builder.WebHost.ConfigureKestrel(k => KestrelListen.On(k, options.Host, options.Port));
        // SIGTERM starts a drain before Kestrel stops listening: new work is refused (and the status says so) while the
        // requests in flight, and KV held for a pull, finish; heartbeats keep answering, so the frontend does not take
        // the worker for dead and recompute what it still runs.
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout + TandemServer.ShutdownFinishAllowance);
        builder.Services.AddSingleton(sp => new ShutdownDrain(options.ShutdownTimeout, sp.GetService<IHostApplicationLifetime>()));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ShutdownDrain>());
        var channels = new ClusterChannels(options.Token);
        var puller = new KvPuller(options.KvTransport, worker.Warn);
        if (worker.Role == WorkerRole.Prefill) SharedKvFile.DeleteOrphans(); // left by a prefill worker killed on this host
        builder.Services.AddClusterGrpc(options.Token).AddSingleton(worker).AddSingleton(channels).AddSingleton(puller);
        var app = builder.Build();
        app.UseRouting();
        app.UseGrpcWeb(new GrpcWebOptions { DefaultEnabled = true });
        app.MapGrpcService<WorkerService>();
        app.MapGet("/health", (HttpContext ctx) => HealthAsync(ctx, worker, puller, app.Lifetime, options.StallTimeout));
        app.MapGet("/health/ready", (HttpContext ctx) =>
            HealthEndpoint.WriteReadinessAsync(ctx, app.Lifetime.ApplicationStopping.IsCancellationRequested ? "the worker is shutting down" : null));
        return new WorkerServer(app, worker, options, channels);
    }

    /// <summary>The bound address (e.g. http://127.0.0.1:41234), known once started.</summary>
    public Uri Address
    {
        get
        {
            var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
            string first = addresses?.FirstOrDefault() ?? throw new InvalidOperationException("the worker has not started");
            return new Uri(first);
        }
    }

    /// <summary>The address the frontend is told to call: --advertise-address, else this host as bound.</summary>
    public string AdvertisedAddress => _options.AdvertiseAddress is { } a ? ClusterChannels.NormalizeAddress(a) : DefaultAdvertised();

    private string DefaultAdvertised()
    {
        var bound = Address;
        string host = _options.Host is "0.0.0.0" or "::" or "[::]" ? System.Net.Dns.GetHostName() : bound.Host;
        return $"http://{host}:{bound.Port}";
    }

    public IHostApplicationLifetime Lifetime => _app.Lifetime;

    /// <summary>Requests still running when the drain's grace period ended (after a stop; 0 when all finished in time).</summary>
    public int RequestsCut => _app.Services.GetRequiredService<ShutdownDrain>().RequestsCut;

    public async Task StartAsync(CancellationToken cancellation = default)
    {
        await _app.StartAsync(cancellation);
        if (_options.Frontend is { } frontend)
            _registration = Task.Run(() => RegisterLoopAsync(ClusterChannels.NormalizeAddress(frontend), _stop.Token));
    }

    /// <summary>Registers with the frontend now and every heartbeat; reports refusals and lost contact once each.</summary>
    private async Task RegisterLoopAsync(string frontend, CancellationToken stop)
    {
        var client = _channels.Frontend(frontend);
        string? last = null;
        var interval = TimeSpan.FromSeconds(1);
        while (!stop.IsCancellationRequested)
        {
            string state;
            try
            {
                var fp = _worker.Fingerprint;
                var reply = await client.RegisterAsync(new Proto.RegisterRequest
                {
                    Address = AdvertisedAddress,
                    Role = ClusterProtocol.RoleName(_worker.Role),
                    ProtocolVersion = ClusterProtocol.Version,
                    ModelFingerprintHigh = fp.High,
                    ModelFingerprintLow = fp.Low,
                }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: stop);
                interval = TimeSpan.FromSeconds(Math.Clamp(reply.HeartbeatSeconds, 0.05, 5));
                state = $"registered with the frontend at {frontend} as {AdvertisedAddress}";
            }
            catch (RpcException e) when (stop.IsCancellationRequested || e.StatusCode == StatusCode.Cancelled && stop.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException e)
            {
                state = e.StatusCode is StatusCode.FailedPrecondition or StatusCode.Unauthenticated or StatusCode.InvalidArgument
                    ? $"error: the frontend at {frontend} refused this worker: {e.Status.Detail}"
                    : $"warning: cannot reach the frontend at {frontend} ({e.StatusCode}); retrying";
            }
            if (state != last) _options.Log(state);
            last = state;
            try
            {
                await Task.Delay(interval, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static async Task HealthAsync(HttpContext ctx, WorkerRuntime worker, KvPuller puller, IHostApplicationLifetime lifetime, TimeSpan stallTimeout)
    {
        bool stopping = lifetime.ApplicationStopping.IsCancellationRequested;
        var s = worker.Snapshot();
        string? problem = InstanceHealth.Problem(s, stallTimeout);
        using var json = new PooledJson();
        var w = json.Writer;
        w.WriteStartObject();
        w.WriteString("status", stopping ? "stopping" : problem is not null ? "unhealthy" : "ok");
        if (problem is not null)
        {
            w.WriteStartArray("problems");
            w.WriteStringValue(problem);
            w.WriteEndArray();
        }
        w.WriteString("role", ClusterProtocol.RoleName(worker.Role));
        w.WriteString("model_fingerprint", worker.Fingerprint.ToString());
        w.WriteNumber("waiting", s.Waiting);
        w.WriteNumber("running", s.Running);
        w.WriteNumber("kv_blocks_used", s.KvBlocksUsed);
        w.WriteNumber("kv_blocks_total", s.KvBlocksTotal);
        w.WriteNumber("kv_held", worker.HeldCount);
        w.WriteNumber("kv_lease_expiries", worker.KvLeaseExpiries);
        if (worker.KvDisk?.Store.Stats() is { } disk)
        {
            // The worker's own disk tier (its status reports it to frontends too, whose /metrics sum the workers').
            w.WriteStartObject("kv_disk");
            w.WriteNumber("blocks", disk.Blocks);
            w.WriteNumber("bytes", disk.Bytes);
            w.WriteNumber("hits", disk.Hits);
            w.WriteNumber("misses", disk.Misses);
            w.WriteNumber("corrupt", disk.Corrupt);
            w.WriteNumber("read_bytes", disk.BytesRead);
            w.WriteNumber("written_bytes", disk.BytesWritten);
            w.WriteNumber("writes_dropped", disk.WritesDropped);
            w.WriteEndObject();
        }
        if (worker.Role == WorkerRole.Prefill)
            w.WriteNumber("kv_blocks_sent_early", worker.KvBlocksSentEarly); // --kv-overlap: blocks pulled while their prefill still ran
        if (worker.Role == WorkerRole.Decode)
        {
            w.WriteString("kv_transport", puller.Transport.ToString().ToLowerInvariant());
            w.WriteNumber("kv_pulls_streamed", puller.Streamed);
            w.WriteNumber("kv_pulls_shared_memory", puller.Shared);
        }
        w.WriteEndObject();
        ctx.Response.StatusCode = stopping || problem is not null ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
        ctx.Response.ContentType = "application/json";
        await json.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
    }

    public Task WaitForShutdownAsync(CancellationToken cancellation = default) => _app.WaitForShutdownAsync(cancellation);

    public async Task StopAsync(CancellationToken cancellation = default)
    {
        _stop.Cancel();
        await _registration.ConfigureAwait(false);
        await _app.StopAsync(cancellation);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _app.DisposeAsync();
        _channels.Dispose();
    }
}

/// <summary>Where a <see cref="WorkerServer"/> listens, its cluster token, and the frontend it registers with.</summary>
public sealed record WorkerServerOptions
{
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 8001;
    public required ClusterToken Token { get; init; }
    /// <summary>A frontend URL to register with (--frontend); null when the frontend lists this worker.</summary>
    public string? Frontend { get; init; }
    /// <summary>The URL the frontend should call this worker at; null: this host as bound (the machine name when bound to all addresses).</summary>
    public string? AdvertiseAddress { get; init; }
    /// <summary>How long requests in flight (and KV held for a pull) may take to finish once the worker is told to stop.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Decode workers: how KV is pulled (--kv-transport).</summary>
    public KvTransport KvTransport { get; init; } = KvTransport.Grpc;
    public LogLevel LogLevel { get; init; } = LogLevel.Information;
    public LogFormat LogFormat { get; init; } = LogFormat.Text;
    /// <summary>Where the worker's spans go (OTLP); null: OTEL_EXPORTER_OTLP_ENDPOINT's, or nowhere.</summary>
    public Uri? OtlpEndpoint { get; init; }
    /// <summary>A worker with work that finishes no loop iteration for this long is reported stuck by /health (503).</summary>
    public TimeSpan StallTimeout { get; init; } = new TandemApiOptions().StallTimeout;
    /// <summary>Registration state changes (default: standard error).</summary>
    public Action<string> Log { get; init; } = m => Console.Error.WriteLine(m);
}
