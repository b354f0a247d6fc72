namespace Tandem.Server.Cluster;

/// <summary>
/// How a decode worker pulls KV from a prefill worker (<c>--kv-transport</c>): the PullKv stream over the network,
/// a shared-memory file when both workers see the same /dev/shm (ShareKv), or shared memory when it can and the
/// stream otherwise. Every path moves the same checksummed payload.
/// </summary>
public enum KvTransport
{
    /// <summary>PullKv: the payload streamed over the worker's gRPC port (works between any two hosts).</summary>
    Grpc,
    /// <summary>ShareKv only: a pull from a prefill worker that cannot share memory with this one fails (and is recomputed).</summary>
    Shm,
    /// <summary>ShareKv when the prefill worker is on this host, PullKv otherwise.</summary>
    Auto,
}
