using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Tandem.Server.Cluster;

/// <summary>
/// The shared secret of a cluster (--cluster-token / TANDEM_CLUSTER_TOKEN): every control-plane call carries it in
/// <see cref="Header"/>, and every gRPC service checks it (in constant time, so timing tells nothing about it)
/// before doing anything, so a worker port reached by anyone else does nothing.
/// </summary>
public sealed class ClusterToken
{
    public const string Header = "x-tandem-cluster-token";
    public const string EnvironmentVariable = "TANDEM_CLUSTER_TOKEN";

    private readonly byte[] _secret;

    public ClusterToken(string secret)
    {
        if (string.IsNullOrEmpty(secret)) throw new ArgumentException("the cluster token must not be empty", nameof(secret));
        Value = secret;
        _secret = Encoding.UTF8.GetBytes(secret);
    }

    public string Value { get; }

    public bool Matches(string? presented)
    {
        if (presented == null) return false;
        // FixedTimeEquals takes time by length only when the lengths match; compare hashes so length leaks nothing either.
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(_secret), SHA256.HashData(Encoding.UTF8.GetBytes(presented)));
    }

    /// <summary>Adds the token to every call made through <paramref name="invoker"/>.</summary>
    public CallInvoker Attach(CallInvoker invoker) => invoker.Intercept(metadata =>
    {
        metadata.Add(Header, Value);
        return metadata;
    });
}

/// <summary>Refuses (UNAUTHENTICATED) every call that lacks the cluster token, before the service sees it.</summary>
internal sealed class ClusterTokenInterceptor(ClusterToken token) : Interceptor
{
    private void Check(ServerCallContext context)
    {
        if (!token.Matches(context.RequestHeaders.GetValue(ClusterToken.Header)))
            throw new RpcException(new Status(StatusCode.Unauthenticated,
                $"this is a Tandem cluster port: calls need the shared cluster token in the {ClusterToken.Header} header (--cluster-token / {ClusterToken.EnvironmentVariable})"));
    }

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, responseStream, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, responseStream, context);
    }
}
