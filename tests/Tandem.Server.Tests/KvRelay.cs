using Grpc.AspNetCore.Web;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Tandem.Server.Cluster;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Tests;

/// <summary>
/// A peer between a frontend and a real prefill worker (a real gRPC server on loopback, listed to the frontend as the
/// prefill worker, so decode workers pull KV through it too), or a real decode worker: every call is passed through to the
/// worker. Subclasses misbehave on the KV pull (damage it, hold it) or on a call, but only from <see cref="Intercept"/> on: a frontend sends its warm-up
/// requests (prefill, KV pull, decode) through the relay before it says it is ready, and the fault a test injects is
/// meant for the test's own requests, so a test calls it once the frontend is ready.
/// </summary>
public abstract class KvRelay : Proto.Worker.WorkerBase, IAsyncDisposable
{
    private readonly ClusterChannels _channels;
    private WebApplication? _app;

    protected KvRelay(string realAddress, string token)
    {
        _channels = new ClusterChannels(new ClusterToken(token));
        Real = _channels.Worker(realAddress);
    }

    private volatile bool _intercepting;

    protected Proto.Worker.WorkerClient Real { get; }

    /// <summary>Whether the subclass's misbehaviour is on (<see cref="Intercept"/> was called).</summary>
    protected bool Intercepting => _intercepting;

    /// <summary>Turns the misbehaviour on: calls until now (the frontend's warm-up) passed straight through.</summary>
    public void Intercept() => _intercepting = true;
    public Uri Address { get; private set; } = null!;
    public string HostPort => $"{Address.Host}:{Address.Port}";

    protected static async Task<T> StartAsync<T>(T relay) where T : KvRelay
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(relay);
        var app = builder.Build();
        app.UseRouting();
        app.UseGrpcWeb(new GrpcWebOptions { DefaultEnabled = true });
        app.MapGrpcService<T>();
        await app.StartAsync();
        relay._app = app;
        relay.Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return relay;
    }

    public override Task<Proto.HelloReply> Hello(Proto.HelloRequest request, ServerCallContext context) =>
        Real.HelloAsync(request, cancellationToken: context.CancellationToken).ResponseAsync;

    public override Task<Proto.WorkerStatus> Status(Proto.StatusRequest request, ServerCallContext context) =>
        Real.StatusAsync(request, cancellationToken: context.CancellationToken).ResponseAsync;

    public override Task<Proto.ReleaseKvReply> ReleaseKv(Proto.ReleaseKvRequest request, ServerCallContext context) =>
        Real.ReleaseKvAsync(request, cancellationToken: context.CancellationToken).ResponseAsync;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _prefills = new();

    /// <summary>Prefill calls passed on since <see cref="Intercept"/>, of every request / of the request with this id.</summary>
    public int Prefills => _prefills.Values.Sum();
    public int PrefillsOf(string requestId) => _prefills.GetValueOrDefault(requestId);

    public override async Task Prefill(Proto.GenerateRequest request, IServerStreamWriter<Proto.WorkerEvent> events, ServerCallContext context)
    {
        if (Intercepting) _prefills.AddOrUpdate(request.RequestId, 1, (_, n) => n + 1);
        using var call = Real.Prefill(request, cancellationToken: context.CancellationToken);
        await ForwardAsync(call, events, context.CancellationToken);
    }

    public override async Task PullKv(Proto.PullKvRequest request, IServerStreamWriter<Proto.KvChunk> chunks, ServerCallContext context)
    {
        using var call = Real.PullKv(request, cancellationToken: context.CancellationToken);
        await ForwardAsync(call, chunks, context.CancellationToken);
    }

    /// <summary>Passed through too, for a relay listed as a decode worker.</summary>
    public override async Task Decode(Proto.GenerateRequest request, IServerStreamWriter<Proto.WorkerEvent> events, ServerCallContext context)
    {
        using var call = Real.Decode(request, cancellationToken: context.CancellationToken);
        await ForwardAsync(call, events, context.CancellationToken);
    }

    /// <summary>
    /// Every message of the worker's <paramref name="call"/> written on to the caller, <paramref name="afterEach"/> run after
    /// each one is written (a subclass's pacing or bookkeeping).
    /// </summary>
    protected static async Task ForwardAsync<T>(AsyncServerStreamingCall<T> call, IServerStreamWriter<T> to, CancellationToken cancellation,
        Func<Task>? afterEach = null)
    {
        while (await call.ResponseStream.MoveNext(cancellation))
        {
            await to.WriteAsync(call.ResponseStream.Current);
            if (afterEach != null) await afterEach();
        }
    }

    public override Task<Proto.ShareKvReply> ShareKv(Proto.ShareKvRequest request, ServerCallContext context) =>
        Real.ShareKvAsync(request, cancellationToken: context.CancellationToken).ResponseAsync;

    public async ValueTask DisposeAsync()
    {
        if (_app != null) await _app.DisposeAsync();
        _channels.Dispose();
        GC.SuppressFinalize(this);
    }
}
