using Microsoft.Extensions.DependencyInjection;

namespace Tandem.Server.Cluster;

/// <summary>The gRPC services of a cluster port: every call checked for the cluster token, KV-sized messages allowed.</summary>
internal static class ClusterGrpc
{
    public static IServiceCollection AddClusterGrpc(this IServiceCollection services, ClusterToken token)
    {
        services.AddSingleton(token);
        services.AddSingleton<ClusterTokenInterceptor>();
        services.AddGrpc(o =>
        {
            o.Interceptors.Add<ClusterTokenInterceptor>();
            o.MaxReceiveMessageSize = ClusterChannels.MaxMessageBytes;
            o.MaxSendMessageSize = ClusterChannels.MaxMessageBytes;
            o.EnableDetailedErrors = true; // peers are our own processes: say what went wrong
        });
        return services;
    }
}
