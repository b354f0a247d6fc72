using Grpc.Core;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Tests;

/// <summary>
/// A peer between a frontend and a real prefill worker (see <see cref="KvRelay"/>) that, until <see cref="StopDropping"/>,
/// answers ReleaseKv itself without passing it on: what the prefill worker sees when a decode worker dies after importing
/// KV but before its confirmation arrives. Every other call passes straight through.
/// </summary>
public sealed class ReleaseDroppingKvRelay : KvRelay
{
    private readonly TaskCompletionSource _dropped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _dropping = true;

    private ReleaseDroppingKvRelay(string realAddress, string token) : base(realAddress, token) { }

    public static Task<ReleaseDroppingKvRelay> StartAsync(string realAddress, string token) => StartAsync(new ReleaseDroppingKvRelay(realAddress, token));

    /// <summary>Completes when a release has been dropped.</summary>
    public Task Dropped => _dropped.Task;

    /// <summary>Releases pass through from now on.</summary>
    public void StopDropping() => _dropping = false;

    public override Task<Proto.ReleaseKvReply> ReleaseKv(Proto.ReleaseKvRequest request, ServerCallContext context)
    {
        if (!_dropping) return base.ReleaseKv(request, context);
        _dropped.TrySetResult();
        return Task.FromResult(new Proto.ReleaseKvReply { Released = true });
    }
}
