using System.Collections.Concurrent;
using Grpc.Core;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Tests;

/// <summary>
/// A peer between a frontend and a real prefill worker (see <see cref="KvRelay"/>) that, from <see cref="KvRelay.Intercept"/>
/// until <see cref="StopDropping"/>, answers ReleaseKv itself without passing it on: what the prefill worker sees when a
/// decode worker dies after importing KV but before its confirmation arrives. Only releases of KV pulled through the relay
/// since it intercepts are dropped: a decode worker confirms a pull without waiting (its ReleaseKv may come after the
/// frontend's warm-up answered, and so after the test intercepts), and a warm-up's KV kept until its lease is not the
/// test's. Every other call passes straight through. Started with <c>failOnceWith</c>, it answers the first such release
/// with that error instead (what a release that timed out under load sees) and passes every later one on.
/// </summary>
public sealed class ReleaseDroppingKvRelay : KvRelay
{
    private readonly TaskCompletionSource _dropped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<string, byte> _pulledSinceIntercepting = new();
    private volatile bool _dropping = true;
    private readonly StatusCode? _failOnceWith;

    private ReleaseDroppingKvRelay(string realAddress, string token, StatusCode? failOnceWith) : base(realAddress, token) => _failOnceWith = failOnceWith;

    public static Task<ReleaseDroppingKvRelay> StartAsync(string realAddress, string token, StatusCode? failOnceWith = null) =>
        StartAsync(new ReleaseDroppingKvRelay(realAddress, token, failOnceWith));

    /// <summary>Completes when a release has been dropped.</summary>
    public Task Dropped => _dropped.Task;

    /// <summary>Releases pass through from now on.</summary>
    public void StopDropping() => _dropping = false;

    public override Task PullKv(Proto.PullKvRequest request, IServerStreamWriter<Proto.KvChunk> chunks, ServerCallContext context)
    {
        if (Intercepting) _pulledSinceIntercepting[request.KvId] = 0;
        return base.PullKv(request, chunks, context);
    }

    public override Task<Proto.ShareKvReply> ShareKv(Proto.ShareKvRequest request, ServerCallContext context)
    {
        if (Intercepting) _pulledSinceIntercepting[request.KvId] = 0;
        return base.ShareKv(request, context);
    }

    public override Task<Proto.ReleaseKvReply> ReleaseKv(Proto.ReleaseKvRequest request, ServerCallContext context)
    {
        if (!_dropping || !_pulledSinceIntercepting.ContainsKey(request.KvId)) return base.ReleaseKv(request, context);
        _dropped.TrySetResult();
        if (_failOnceWith is { } status)
        {
            _dropping = false;
            throw new RpcException(new Status(status, "dropped by the test's relay"));
        }
        return Task.FromResult(new Proto.ReleaseKvReply { Released = true });
    }
}
