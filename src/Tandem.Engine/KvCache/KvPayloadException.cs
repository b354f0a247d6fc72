namespace Tandem.Engine.KvCache;

/// <summary>A KV payload that cannot be imported (wrong model, wrong KV type, corrupt or truncated); the importing pool is unchanged.</summary>
public sealed class KvPayloadException(string message, Exception? inner = null) : Exception(message, inner);
