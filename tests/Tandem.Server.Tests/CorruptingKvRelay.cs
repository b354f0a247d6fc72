using Google.Protobuf;
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
/// A bad peer between a frontend and a real prefill worker (a real gRPC server on loopback): every call is passed
/// through to the worker, except that the first KV pulls come out damaged, one corrupted (a flipped byte inside a
/// block) and one truncated (the stream ends after the first block; the shared-memory file is cut in half). What the
/// decode side must catch by checksum and length, then recover from by recomputing.
/// </summary>
public sealed class CorruptingKvRelay : Proto.Worker.WorkerBase, IAsyncDisposable
{
    private readonly Proto.Worker.WorkerClient _real;
    private readonly ClusterChannels _channels;
    private WebApplication? _app;
    private int _pulls;

    private CorruptingKvRelay(string realAddress, string token)
    {
        _channels = new ClusterChannels(new ClusterToken(token));
        _real = _channels.Worker(realAddress);
    }

    /// <summary>Pulls that came out damaged so far.</summary>
    public int Damaged { get; private set; }
    public Uri Address { get; private set; } = null!;

    public static async Task<CorruptingKvRelay> StartAsync(string realAddress, string token)
    {
        var relay = new CorruptingKvRelay(realAddress, token);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(relay);
        var app = builder.Build();
        app.UseRouting();
        app.UseGrpcWeb(new GrpcWebOptions { DefaultEnabled = true });
        app.MapGrpcService<CorruptingKvRelay>();
        await app.StartAsync();
        relay._app = app;
        relay.Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return relay;
    }

    public override Task<Proto.HelloReply> Hello(Proto.HelloRequest request, ServerCallContext context) =>
        _real.HelloAsync(request, cancellationToken: context.CancellationToken).ResponseAsync;

    public override Task<Proto.WorkerStatus> Status(Proto.StatusRequest request, ServerCallContext context) =>
        _real.StatusAsync(request, cancellationToken: context.CancellationToken).ResponseAsync;

    public override Task<Proto.ReleaseKvReply> ReleaseKv(Proto.ReleaseKvRequest request, ServerCallContext context) =>
        _real.ReleaseKvAsync(request, cancellationToken: context.CancellationToken).ResponseAsync;

    public override async Task Prefill(Proto.GenerateRequest request, IServerStreamWriter<Proto.WorkerEvent> events, ServerCallContext context)
    {
        using var call = _real.Prefill(request, cancellationToken: context.CancellationToken);
        while (await call.ResponseStream.MoveNext(context.CancellationToken))
            await events.WriteAsync(call.ResponseStream.Current);
    }

    public override async Task PullKv(Proto.PullKvRequest request, IServerStreamWriter<Proto.KvChunk> chunks, ServerCallContext context)
    {
        int pull = Interlocked.Increment(ref _pulls);
        using var call = _real.PullKv(request, cancellationToken: context.CancellationToken);
        int index = 0;
        while (await call.ResponseStream.MoveNext(context.CancellationToken))
        {
            var chunk = call.ResponseStream.Current;
            if (pull == 1 && index == 1)
            {
                var bytes = chunk.Data.ToByteArray();
                bytes[bytes.Length / 2] ^= 0x40; // one bit of one value of the first block
                chunk = new Proto.KvChunk { Data = ByteString.CopyFrom(bytes) };
                Damaged++;
            }
            await chunks.WriteAsync(chunk);
            if (pull == 2 && index == 1)
            {
                Damaged++;
                return; // truncated: the header and one block, no more
            }
            index++;
        }
    }

    public override async Task<Proto.ShareKvReply> ShareKv(Proto.ShareKvRequest request, ServerCallContext context)
    {
        int pull = Interlocked.Increment(ref _pulls);
        var reply = await _real.ShareKvAsync(request, cancellationToken: context.CancellationToken);
        if (reply.Path.Length == 0 || pull > 2) return reply;
        // The file the decode worker is about to map, damaged in place (this process is on the same host).
        using var file = new FileStream(reply.Path, FileMode.Open, FileAccess.ReadWrite);
        if (pull == 1)
        {
            file.Position = file.Length / 2;
            int b = file.ReadByte();
            file.Position--;
            file.WriteByte((byte)(b ^ 0x40));
        }
        else
        {
            file.SetLength(file.Length / 2);
        }
        Damaged++;
        return reply;
    }

    public async ValueTask DisposeAsync()
    {
        if (_app != null) await _app.DisposeAsync();
        _channels.Dispose();
    }
}
