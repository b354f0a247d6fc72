namespace Tandem.Serving;

/// <summary>
/// A request's KV is gone before it finished: the decode side could not pull it (checksum mismatch, truncated
/// stream, the holder gone) or dropped it to make room (preemption on a cluster decode worker). The request lost
/// nothing it cannot recompute from its tokens: a cluster frontend prefills it again elsewhere; the in-process
/// runtime fails a failed pull with it.
/// </summary>
public sealed class KvLostException(string message, Exception? inner = null) : Exception(message, inner);
