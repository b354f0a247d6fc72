namespace Tandem.Engine.KvCache;

/// <summary>
/// Told, on the pool's owner thread, when a full block enters or leaves a pool's prefix index (Dynamo's KV events):
/// how an instance reports what it has cached to a router without the router reading the pool.
/// </summary>
public interface IKvPrefixListener
{
    void Stored(UInt128 blockHash);
    void Removed(UInt128 blockHash);
}
