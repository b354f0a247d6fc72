namespace Tandem.Server.Cluster;

/// <summary>
/// A decode worker's side of KV pulls: the transport chosen with --kv-transport, and how many pulls went each way
/// (its /health shows them, so an operator sees whether shared memory is in use). Why a pull could not use shared
/// memory is logged once per distinct reason.
/// </summary>
public sealed class KvPuller(KvTransport transport, Action<string> warnOnce)
{
    private long _streamed;
    private long _shared;

    public KvTransport Transport => transport;
    /// <summary>Pulls that came over the PullKv stream / through a shared-memory file, since start.</summary>
    public long Streamed => Interlocked.Read(ref _streamed);
    public long Shared => Interlocked.Read(ref _shared);

    internal void CountStreamed() => Interlocked.Increment(ref _streamed);
    internal void CountShared() => Interlocked.Increment(ref _shared);
    internal void Warn(string message) => warnOnce(message);
}
