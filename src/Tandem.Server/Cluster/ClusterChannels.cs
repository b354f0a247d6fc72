using System.Collections.Concurrent;
using System.Net;
using Grpc.Net.Client;
using Grpc.Net.Client.Web;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Cluster;

/// <summary>
/// gRPC channels to cluster peers, one per address, each adding the cluster token to every call. The framing is
/// gRPC-Web binary over HTTP/1.1 (see Protos/worker.proto): each concurrent call gets its own pooled connection,
/// and a new connection resolves the host name again, so a restarted peer behind the same name is found.
/// </summary>
public sealed class ClusterChannels(ClusterToken token) : IDisposable
{
    /// <summary>Largest message either side takes: a KV chunk is one block of every layer (well under this).</summary>
    public const int MaxMessageBytes = 64 << 20;

    private readonly ConcurrentDictionary<string, GrpcChannel> _channels = new();

    public ClusterToken Token => token;

    public Proto.Worker.WorkerClient Worker(string address) => new(token.Attach(Channel(address).CreateCallInvoker()));

    public Proto.Frontend.FrontendClient Frontend(string address) => new(token.Attach(Channel(address).CreateCallInvoker()));

    private GrpcChannel Channel(string address) => _channels.GetOrAdd(address, a => GrpcChannel.ForAddress(a, new GrpcChannelOptions
    {
        HttpHandler = new GrpcWebHandler(GrpcWebMode.GrpcWeb, new SocketsHttpHandler
        {
            // A dead peer's pooled connections are dropped quickly, and names resolve again on the next connection.
            PooledConnectionLifetime = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        }),
        HttpVersion = HttpVersion.Version11,
        HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        MaxReceiveMessageSize = MaxMessageBytes,
        MaxSendMessageSize = MaxMessageBytes,
    }));

    /// <summary>"host:port" or a URL, as a base URL.</summary>
    public static string NormalizeAddress(string endpoint)
    {
        string e = endpoint.Trim().TrimEnd('/');
        return e.Contains("://", StringComparison.Ordinal) ? e : "http://" + e;
    }

    public void Dispose()
    {
        foreach (var c in _channels.Values) c.Dispose();
        _channels.Clear();
    }
}
