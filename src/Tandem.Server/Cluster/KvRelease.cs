using Grpc.Core;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Cluster;

/// <summary>
/// ReleaseKv to the prefill worker holding a request's KV: the decode worker's confirmation after its import, or the
/// frontend's release of KV no one will pull. Sent off the request's path (the caller does not wait), each try with a
/// 10-second deadline. A try that times out or finds the worker unreachable is tried again after a pause, twice at most:
/// under heavy load one release can miss its deadline, and with nothing more the KV stayed held until the lease ended
/// (30 s by default, minutes where set longer), pool memory no prompt could use meanwhile. A second release of the same
/// KV does nothing, so a retry after a release that did arrive is harmless. Any other failure (the KV is already gone,
/// the peer refuses) ends it: the holder's lease frees what is left.
/// </summary>
internal static class KvRelease
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    /// <summary>The pauses before the second and third tries.</summary>
    internal static readonly TimeSpan[] Pauses = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3)];

    /// <param name="log">Where a failed try and a release given up are told, as a warning (what explains KV still held after its request).</param>
    public static async Task SendAsync(Proto.Worker.WorkerClient holder, string kvId, string address, Action<string> log)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                await holder.ReleaseKvAsync(new Proto.ReleaseKvRequest { KvId = kvId }, deadline: DateTime.UtcNow + Deadline).ConfigureAwait(false);
                return;
            }
            catch (RpcException e) when (attempt < Pauses.Length && e.StatusCode is StatusCode.DeadlineExceeded or StatusCode.Unavailable)
            {
                log($"releasing KV {kvId} on the prefill worker at {address} failed ({e.StatusCode}); trying again in {Pauses[attempt].TotalSeconds:0} s");
            }
            catch (RpcException e)
            {
                // Gone with its worker, refused, or out of tries: the holder's lease frees it.
                log($"KV {kvId} on the prefill worker at {address} was not released ({e.StatusCode}: {e.Status.Detail}) after {attempt + 1} tries; its lease frees it");
                return;
            }
            await Task.Delay(Pauses[attempt]).ConfigureAwait(false);
        }
    }
}
