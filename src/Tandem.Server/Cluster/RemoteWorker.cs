using Grpc.Core;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Serving.Scheduling;
using Tandem.Serving.Workers;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Cluster;

/// <summary>
/// A frontend's view of one worker: its client, the handshake (protocol version, model, role), and its live status
/// from heartbeats. Up from a successful handshake and status until a call fails to reach it or no heartbeat answers
/// within the worker timeout, or its status says its loop died; then its calls in flight are cancelled (their requests
/// recover elsewhere) and the next heartbeat that answers shakes hands again, so a restarted worker rejoins. With prefix
/// caching on the worker, each heartbeat also brings what changed in its cached blocks, kept here as a copy of its
/// directory for cache-aware routing.
/// </summary>
internal sealed class RemoteWorker(string address, WorkerRole role, Proto.Worker.WorkerClient client) : IEntryLoad, IDecodeLoad
{
    private readonly object _gate = new();
    private CancellationTokenSource _lost = new();
    private volatile Proto.WorkerStatus? _status;
    private volatile Proto.HelloReply? _hello;
    private long _lastSeen;
    private int _dispatchedTokens, _dispatchedBlocks; // work sent since the last status (it is not in that status yet)
    private volatile bool _refusedAsDraining; // it refused a call as draining since the last status

    public string Address { get; } = address;
    public WorkerRole Role { get; } = role;
    public Proto.Worker.WorkerClient Client { get; } = client;
    public bool IsUp { get; private set; }
    /// <summary>Shutting down: up (its requests in flight go on) but taking no new work.</summary>
    public bool IsDraining => _refusedAsDraining || _status?.Draining == true;
    /// <summary>Why the last handshake refused this worker, or null.</summary>
    public string? Refusal { get; private set; }
    public Proto.WorkerStatus? Status => _status;
    public Proto.HelloReply? Hello => _hello;
    /// <summary>The worker's block hash chain, from its handshake; null when it caches no prefixes (or has not shaken hands).</summary>
    public KvPrefixHash? PrefixHash { get; private set; }
    /// <summary>A copy of the worker's cached blocks, as of its last heartbeat plus the prompts prefilled there since; null with <see cref="PrefixHash"/>.</summary>
    public CachedBlockDirectory? CachedBlocks { get; private set; }
    private ulong _cachedEpoch = CachedBlockReport.NoEpoch; // the position of that copy in the worker's journal
    private long _cachedSequence;
    /// <summary>Cancelled when this worker is taken as down: calls to it stop waiting.</summary>
    public CancellationToken Lost { get { lock (_gate) return _lost.Token; } }

    /// <summary>Prefill placement: prompt tokens queued there (shortest queue wins).</summary>
    public long QueueTokens => (_status?.WaitingTokens ?? 0) + Volatile.Read(ref _dispatchedTokens);
    /// <summary>Decode placement: free KV blocks left for new requests (most wins).</summary>
    public long FreeBlocks => (_status?.KvBlocksFreeForNew ?? 0) - Volatile.Read(ref _dispatchedBlocks);

    int IEntryLoad.QueuedTokens => (int)Math.Min(int.MaxValue, QueueTokens);
    int IEntryLoad.RunningCount => _status?.Running ?? 0;
    int IDecodeLoad.FreeCapacityBlocks => (int)Math.Clamp(FreeBlocks, int.MinValue, int.MaxValue);
    /// <summary>Decode workers: most prompt tokens a step prefills of prompts sent without KV, from the handshake (0: it takes none).</summary>
    public int LocalPrefillBudget => _hello?.LocalPrefillBudget ?? 0;

    public void Dispatched(int tokens, int blocks)
    {
        Interlocked.Add(ref _dispatchedTokens, tokens);
        Interlocked.Add(ref _dispatchedBlocks, blocks);
    }

    /// <summary>One heartbeat: handshake if needed, then status. Returns a line to log when the worker's state changed.</summary>
    public async Task<string?> BeatAsync(ModelFingerprint model, TimeSpan timeout, TimeProvider time)
    {
        try
        {
            var deadline = DateTime.UtcNow + timeout;
            if (_hello == null)
            {
                var hello = await Client.HelloAsync(new Proto.HelloRequest
                {
                    ProtocolVersion = ClusterProtocol.Version,
                    ModelFingerprintHigh = model.High,
                    ModelFingerprintLow = model.Low,
                }, deadline: deadline);
                string? refusal = ClusterProtocol.Refusal(hello.ProtocolVersion,
                    ClusterProtocol.Fingerprint(hello.ModelFingerprintHigh, hello.ModelFingerprintLow), model, $"worker {Address}");
                if (refusal == null && hello.Role != ClusterProtocol.RoleName(Role))
                    refusal = $"worker {Address} is a {hello.Role} worker but is listed as a {ClusterProtocol.RoleName(Role)} worker";
                if (refusal != null) return Refuse(refusal);
                var root = new UInt128(hello.PrefixHashRootHigh, hello.PrefixHashRootLow);
                // A worker that (re)joins starts a fresh copy: its journal is another one.
                PrefixHash = root == UInt128.Zero || hello.BlockSize < 1 ? null : new KvPrefixHash(root, hello.BlockSize);
                CachedBlocks = PrefixHash is null ? null : new CachedBlockDirectory(Math.Max(1, hello.KvBlocksTotal));
                _cachedEpoch = CachedBlockReport.NoEpoch;
                _hello = hello;
            }
            var status = await Client.StatusAsync(new Proto.StatusRequest { CachedBlocksEpoch = _cachedEpoch, CachedBlocksSequence = _cachedSequence }, deadline: deadline);
            if (status.CachedBlocks is { } wire && CachedBlocks is { } copy)
            {
                try
                {
                    var report = ClusterProtocol.FromWire(wire);
                    copy.Apply(report);
                    (_cachedEpoch, _cachedSequence) = (report.Epoch, report.Sequence);
                }
                catch (ArgumentException)
                {
                    _cachedEpoch = CachedBlockReport.NoEpoch; // a malformed report: ask for the whole set next time
                }
            }
            _status = status;
            // It answers but its loop is dead: nothing sent there would run (its own /health asks for a restart).
            if (status.Failure is { Length: > 0 } failure) return MarkFailed(failure);
            _refusedAsDraining = false;
            Interlocked.Exchange(ref _dispatchedTokens, 0);
            Interlocked.Exchange(ref _dispatchedBlocks, 0);
            Volatile.Write(ref _lastSeen, time.GetTimestamp());
            Refusal = null;
            if (IsUp) return null;
            IsUp = true;
            return $"{ClusterProtocol.RoleName(Role)} worker {Address} joined ({_hello.KvBlocksTotal} KV blocks of {_hello.BlockSize} tokens)";
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.FailedPrecondition or StatusCode.Unauthenticated or StatusCode.PermissionDenied)
        {
            return Refuse($"worker {Address} refused this frontend: {e.Status.Detail}");
        }
        catch (RpcException e)
        {
            if (!IsUp) return null;
            bool timedOut = time.GetElapsedTime(Volatile.Read(ref _lastSeen)) >= timeout;
            return timedOut || e.StatusCode == StatusCode.Unavailable ? MarkDown($"no answer: {e.Status.StatusCode}: {e.Status.Detail}") : null;
        }
    }

    /// <summary>
    /// A call to it just brought a message (a token, a KV event): it is alive, as surely as a heartbeat would say. A worker
    /// so busy that its status call misses the deadline (cores shared with a heavy load) is not taken for lost while it
    /// is still streaming; one that stops answering and streaming both is, a timeout after the last of either.
    /// </summary>
    public void NoteHeard(TimeProvider time) => Volatile.Write(ref _lastSeen, time.GetTimestamp());

    /// <summary>Its loop died (its status or a refused call says so): down, and no work goes to it until a restarted process answers.</summary>
    public string? MarkFailed(string failure) =>
        Refuse($"{ClusterProtocol.RoleName(Role)} worker {Address} cannot take work ({failure}); its requests go to other workers until it is restarted");

    /// <summary>It refused a call because it is shutting down: no new work goes to it (its status says the same from the next heartbeat).</summary>
    public void MarkDraining() => _refusedAsDraining = true;

    private string? Refuse(string reason)
    {
        bool changed = Refusal != reason;
        Refusal = reason;
        MarkDown(reason);
        return changed ? reason : null;
    }

    /// <summary>Takes the worker as down (a call could not reach it, or heartbeats stopped); cancels its calls in flight.</summary>
    public string? MarkDown(string why)
    {
        CancellationTokenSource lost;
        lock (_gate)
        {
            if (!IsUp && _hello == null) return null;
            IsUp = false;
            _hello = null; // shake hands again: it may come back as a restarted process
            lost = _lost;
            _lost = new CancellationTokenSource();
        }
        lost.Cancel();
        return $"{ClusterProtocol.RoleName(Role)} worker {Address} is down ({why}); its requests go to other workers";
    }
}
