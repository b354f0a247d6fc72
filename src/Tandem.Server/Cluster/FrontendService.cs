using Grpc.Core;
using Tandem.Serving.Workers;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Cluster;

/// <summary>The frontend's side of Protos/frontend.proto: workers started with --frontend join here.</summary>
internal sealed class FrontendService(ClusterEngine engine) : Proto.Frontend.FrontendBase
{
    public override Task<Proto.RegisterReply> Register(Proto.RegisterRequest request, ServerCallContext context)
    {
        string peer = $"the {request.Role} worker at {request.Address}";
        string? refusal = ClusterProtocol.Refusal(request.ProtocolVersion,
            ClusterProtocol.Fingerprint(request.ModelFingerprintHigh, request.ModelFingerprintLow), engine.Fingerprint, peer);
        if (refusal != null) throw new RpcException(new Status(StatusCode.FailedPrecondition, refusal));
        WorkerRole role = request.Role switch
        {
            "prefill" => WorkerRole.Prefill,
            "decode" => WorkerRole.Decode,
            _ => throw new RpcException(new Status(StatusCode.InvalidArgument, $"role must be prefill or decode, got '{request.Role}'")),
        };
        if (!Uri.TryCreate(ClusterChannels.NormalizeAddress(request.Address), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"'{request.Address}' is not an address the frontend can reach (http://host:port)"));
        engine.Register(request.Address, role);
        return Task.FromResult(new Proto.RegisterReply { HeartbeatSeconds = ClusterEngine.HeartbeatInterval(engine.Options.WorkerTimeout).TotalSeconds });
    }
}
