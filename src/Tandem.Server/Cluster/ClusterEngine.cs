using Grpc.Core;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Engine.Tokenization;
using Tandem.Serving;
using Tandem.Serving.Scheduling;
using Tandem.Serving.Workers;
using Proto = Tandem.Server.Cluster.Protocol;

namespace Tandem.Server.Cluster;

/// <summary>
/// The frontend of a cluster (<c>tandem serve --role frontend</c>): the same <see cref="IServingEngine"/> the API
/// runs on in process, with DistServe's controller in front of remote workers: a new request goes to the prefill
/// worker with the least work before its first token (queued tokens, and by default the part of the prompt it does not
/// hold cached: cache-aware routing), a prefilled one to the decode worker with the most free KV blocks, both from
/// live status (heartbeats, which carry each worker's cached blocks) plus what was sent since. Workers come from the
/// --prefill-workers / --decode-workers lists (names resolved again every few seconds: a headless Service lists each
/// pod) or register themselves.
/// </summary>
public sealed class ClusterEngine : IServingEngine
{
    private readonly LanguageModel _model;
    private readonly ClusterChannels _channels;
    private readonly ClusterEngineOptions _options;
    private readonly TimeProvider _time;
    private readonly long _start;
    private readonly ConcurrentDictionary<string, RemoteWorker> _workers = new();
    private readonly ConcurrentDictionary<RemoteRequest, byte> _inFlight = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _heartbeats;
    private readonly Action<string> _log;
    private long _arrivals;
    private long _recoveries;
    private int _roundRobin;
    private int _disposed;

    public ClusterEngine(LanguageModel model, ClusterEngineOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        _model = model;
        _options = options;
        _time = options.TimeProvider;
        _start = _time.GetTimestamp();
        _log = options.Log ?? (m => Console.Error.WriteLine(m));
        _channels = new ClusterChannels(options.Token);
        Tokenizer = Tokenizer.FromGguf(model.File);
        MaxContext = options.MaxContext ?? model.Config.ContextLength;
        Fingerprint = model.Fingerprint;
        _heartbeats = Task.Run(() => HeartbeatLoopAsync(_stopping.Token));
    }

    public ModelConfig Config => _model.Config;
    public Tokenizer Tokenizer { get; }
    public int MaxContext { get; }
    public ModelFingerprint Fingerprint { get; }
    internal ClusterChannels Channels => _channels;
    internal ClusterEngineOptions Options => _options;
    /// <summary>Times a request was sent to prefill again because its KV or its worker was lost.</summary>
    public long Recoveries => Interlocked.Read(ref _recoveries);

    public double Now => _time.GetElapsedTime(_start).TotalSeconds;

    /// <summary>The smallest pool of any connected worker (the whole request must fit on each side); the context when none is connected.</summary>
    public int KvCapacityTokens
    {
        get
        {
            int min = int.MaxValue;
            foreach (var w in _workers.Values)
                if (w.IsUp && w.Hello is { } h) min = Math.Min(min, h.KvBlocksTotal * h.BlockSize);
            return min == int.MaxValue ? MaxContext : min;
        }
    }

    public string? NotReadyReason
    {
        get
        {
            if (!AnyTaking(WorkerRole.Prefill)) return "no prefill worker is taking requests (none connected, or all shutting down)";
            if (!AnyTaking(WorkerRole.Decode)) return "no decode worker is taking requests (none connected, or all shutting down)";
            return null;
        }
    }

    /// <summary>
    /// Whether a worker of <paramref name="role"/> would be given new work. A draining one is up but takes none: one that
    /// refused a call before answering (it exited between two heartbeats) counts as draining until its next status, so a
    /// request arriving then gets a temporary 503 at admission instead of failing after its prefill with a 500.
    /// </summary>
    private bool AnyTaking(WorkerRole role) => _workers.Values.Any(w => w.Role == role && w.IsUp && !w.IsDraining);

    public RequestHandle Submit(GenerationRequest request) => Submit(request, warmUp: false);

    /// <summary>
    /// <paramref name="warmUp"/>: the server's own warm-up request (<see cref="Hosting.ServingWarmUp"/>), marked as such
    /// on its way through the workers (GenerateRequest.warm_up) so that they leave it out of their counts too.
    /// </summary>
    internal RequestHandle Submit(GenerationRequest request, bool warmUp)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        RequestAdmission.Validate(request, Config.VocabSize, MaxContext, KvCapacityTokens, 1);
        if (NotReadyReason is { } missing && request.MaxTokens > 0)
            throw new RequestRejectedException($"the cluster cannot take requests now: {missing}; retry when one has joined", "no_workers") { IsTemporary = true };
        var forwarded = new ForwardedRequest(request, Tokenizer, Config.VocabSize, Interlocked.Increment(ref _arrivals), Now);
        if (request.MaxTokens == 0)
        {
            forwarded.Finish(Engine.Generation.FinishReason.Length, Now);
            return forwarded.Handle;
        }
        var run = new RemoteRequest(this, forwarded, warmUp);
        _inFlight[run] = 0;
        _ = run.RunAsync().ContinueWith(_ => _inFlight.TryRemove(run, out byte _), TaskScheduler.Default);
        return forwarded.Handle;
    }

    internal void CountRecovery() => Interlocked.Increment(ref _recoveries);

    /// <summary>
    /// The prefill worker for a request, among those up and not draining, by <see cref="ClusterEngineOptions.Routing"/>
    /// with the in-process runtime's rule (<see cref="DispatchPolicy"/>): by default overlap against load, each worker's
    /// queued prompt tokens plus the weighted tokens of this request it does not hold cached; ties to the fewest running,
    /// then the first address. Null when there is none.
    /// </summary>
    internal RemoteWorker? PickPrefill(ForwardedRequest request)
    {
        var candidates = _workers.Values.Where(w => w.Role == WorkerRole.Prefill && w.IsUp && !w.IsDraining)
            .OrderBy(w => w.Address, StringComparer.Ordinal).ToList();
        if (candidates.Count == 0) return null;
        int pick = 0;
        if (candidates.Count > 1)
        {
            switch (_options.Routing)
            {
                case EntryRouting.RoundRobin:
                    pick = (int)((uint)Interlocked.Increment(ref _roundRobin) % (uint)candidates.Count);
                    break;
                case EntryRouting.LeastLoaded:
                    pick = DispatchPolicy.PickEntry(candidates);
                    break;
                default:
                    var cached = new int[candidates.Count];
                    CachedPrefixes(request.TokenIdSpan, candidates, cached);
                    pick = DispatchPolicy.PickEntryCacheAware(candidates, request.NumTokens, cached, _options.CacheOverlapWeight);
                    break;
            }
        }
        var best = candidates[pick];
        best.Dispatched(request.NumTokens, 0);
        return best;
    }

    /// <summary>
    /// Tokens of a prompt each worker holds cached, from its copy of the worker's directory. Every worker of one model
    /// with the same block size and KV type has one hash chain; a worker on another (a misconfigured cluster) counts none.
    /// </summary>
    private static void CachedPrefixes(ReadOnlySpan<int> tokens, List<RemoteWorker> workers, Span<int> cached)
    {
        if (workers.Find(w => w.PrefixHash is not null)?.PrefixHash is not { } hash) return;
        CachedBlockDirectory.CachedTokens(hash, tokens, workers,
            w => w.PrefixHash is { } h && h.Root == hash.Root && h.BlockSize == hash.BlockSize ? w.CachedBlocks : null, cached);
    }

    /// <summary>
    /// A prompt was prefilled on <paramref name="worker"/>: its full blocks are in the worker's cache now. Noted in the copy at
    /// once, so the conversation's next turn finds them even before the next heartbeat reports them (which corrects the copy).
    /// </summary>
    internal static void NotePrefilled(RemoteWorker worker, ReadOnlySpan<int> tokens)
    {
        if (worker.PrefixHash is not { } hash || worker.CachedBlocks is not { } blocks) return;
        var chain = new UInt128[tokens.Length / hash.BlockSize];
        hash.Chain(tokens, chain);
        foreach (var h in chain) blocks.Stored(h);
    }

    /// <summary>
    /// Conditional disaggregation (<see cref="ClusterEngineOptions.LocalPrefillThreshold"/>), with the in-process rule
    /// (<see cref="DispatchPolicy.PickLocalPrefill"/>): the decode worker that prefills the prompt itself, among those up,
    /// not draining and taking prompts (a local prefill budget in their handshake), or null when it goes to a prefill worker.
    /// </summary>
    internal RemoteWorker? PickLocalPrefill(ForwardedRequest request)
    {
        if (_options.LocalPrefillThreshold == 0) return null;
        var decode = _workers.Values.Where(w => w.Role == WorkerRole.Decode && w.IsUp && !w.IsDraining && w.LocalPrefillBudget > 0)
            .OrderBy(w => w.Address, StringComparer.Ordinal).ToList();
        if (decode.Count == 0) return null;
        var prefill = _workers.Values.Where(w => w.Role == WorkerRole.Prefill && w.IsUp && !w.IsDraining).ToList();
        var cached = new int[decode.Count];
        CachedPrefixes(request.TokenIdSpan, decode, cached);
        int pick = DispatchPolicy.PickLocalPrefill(decode, cached, request.NumTokens, prefill, _options.LocalPrefillThreshold, _options.PrefillBusyTokens);
        if (pick < 0) return null;
        var best = decode[pick];
        if (best.Hello is { } h) best.Dispatched(0, (request.NumTokens + h.BlockSize) / h.BlockSize);
        return best;
    }

    /// <summary>The up decode worker with the most free KV blocks, or null.</summary>
    internal RemoteWorker? PickDecode(int tokens)
    {
        RemoteWorker? best = null;
        foreach (var w in _workers.Values)
            if (w.Role == WorkerRole.Decode && w.IsUp && !w.IsDraining && (best == null || w.FreeBlocks > best.FreeBlocks)) best = w;
        if (best?.Hello is { } h) best.Dispatched(0, (tokens + h.BlockSize) / h.BlockSize);
        return best;
    }

    /// <summary>A line for the frontend's log (stderr unless the options say otherwise).</summary>
    internal void Log(string line) => _log(line);

    /// <summary>A call to <paramref name="worker"/> failed to reach it: take it as down now rather than at the next heartbeat.</summary>
    internal void ReportUnreachable(RemoteWorker worker, string why)
    {
        if (worker.MarkDown(why) is { } line) _log(line);
    }

    /// <summary>A worker refused a call because its loop died: take it as down now, and say so once.</summary>
    internal void ReportFailed(RemoteWorker worker, string why)
    {
        if (worker.MarkFailed(why) is { } line) _log(line);
    }

    /// <summary>A heartbeat now, out of turn: a call to the worker broke, and the next request should not go to a dead one.</summary>
    internal async Task ProbeAsync(RemoteWorker worker)
    {
        if (await worker.BeatAsync(Fingerprint, _options.WorkerTimeout, _time).ConfigureAwait(false) is { } line) _log(line);
    }

    /// <summary>A worker that registered itself (<c>--frontend</c>); its handshake happens at the next heartbeat.</summary>
    internal void Register(string address, WorkerRole role)
    {
        string key = ClusterChannels.NormalizeAddress(address);
        if (_workers.TryGetValue(key, out var existing) && existing.Role == role) return;
        _workers[key] = new RemoteWorker(key, role, _channels.Worker(key));
    }

    internal IEnumerable<RemoteWorker> Workers => _workers.Values;

    private async Task HeartbeatLoopAsync(CancellationToken stop)
    {
        var interval = HeartbeatInterval(_options.WorkerTimeout);
        long lastResolve = 0;
        while (!stop.IsCancellationRequested)
        {
            if (lastResolve == 0 || _time.GetElapsedTime(lastResolve) >= ResolveInterval)
            {
                lastResolve = _time.GetTimestamp();
                await ResolveListsAsync().ConfigureAwait(false);
            }
            var beats = _workers.Values.Select(async w =>
            {
                if (await w.BeatAsync(Fingerprint, _options.WorkerTimeout, _time).ConfigureAwait(false) is { } line) _log(line);
            });
            await Task.WhenAll(beats).ConfigureAwait(false);
            try
            {
                await Task.Delay(interval, _time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// The prefix-cache lookups and hits the workers have counted up to now, as <see cref="Snapshot"/> will sum them
    /// once the next heartbeats arrive: asked of each worker that is up (a status call of its own, which changes nothing
    /// there), the last heartbeat's figures for the others. The warm-up takes these off the metrics without waiting a
    /// heartbeat interval.
    /// </summary>
    internal async Task<(long Queries, long Hits)> PrefixLookupsNowAsync(CancellationToken cancellation)
    {
        var counts = await Task.WhenAll(_workers.Values.Select(async w =>
        {
            var status = w.Status;
            if (w.IsUp)
            {
                try
                {
                    status = await w.Client.StatusAsync(new Proto.StatusRequest { CachedBlocksEpoch = CachedBlockReport.NoEpoch },
                        deadline: DateTime.UtcNow + _options.WorkerTimeout, cancellationToken: cancellation).ConfigureAwait(false);
                }
                catch (RpcException)
                {
                    // Its last heartbeat's figures, then: at worst the warm-up's lookups show there.
                }
            }
            return (status?.PrefixCacheQueries ?? 0, status?.PrefixCacheHits ?? 0);
        })).ConfigureAwait(false);
        return (counts.Sum(c => c.Item1), counts.Sum(c => c.Item2));
    }

    /// <summary>Heartbeats three times per timeout, so one lost beat does not take a worker down.</summary>
    public static TimeSpan HeartbeatInterval(TimeSpan workerTimeout) =>
        TimeSpan.FromTicks(Math.Clamp(workerTimeout.Ticks / 3, TimeSpan.FromMilliseconds(50).Ticks, TimeSpan.FromSeconds(5).Ticks));

    private static readonly TimeSpan ResolveInterval = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Each list entry is one worker, or, when its name resolves to several addresses (a Kubernetes headless
    /// Service), one worker per address; resolved again every few seconds, so pods that come and go are followed.
    /// </summary>
    private async Task ResolveListsAsync()
    {
        foreach (var (entries, role) in new[] { (_options.PrefillWorkers, WorkerRole.Prefill), (_options.DecodeWorkers, WorkerRole.Decode) })
            foreach (var entry in entries)
                foreach (var address in await ResolveAsync(entry).ConfigureAwait(false))
                    _workers.TryAdd(address, new RemoteWorker(address, role, _channels.Worker(address)));
    }

    private static async Task<IReadOnlyList<string>> ResolveAsync(string entry)
    {
        var uri = new Uri(ClusterChannels.NormalizeAddress(entry));
        string self = uri.GetLeftPart(UriPartial.Authority);
        if (uri.HostNameType != UriHostNameType.Dns || uri.Host == "localhost") return [self];
        try
        {
            var addresses = (await Dns.GetHostAddressesAsync(uri.Host).ConfigureAwait(false))
                .Where(a => a.AddressFamily == AddressFamily.InterNetwork).Distinct().ToList();
            if (addresses.Count < 2) return [self];
            return addresses.Select(a => $"{uri.Scheme}://{a}:{uri.Port}").ToList();
        }
        catch (SocketException)
        {
            return [self]; // not resolvable now: keep the name, a later connection resolves it again
        }
    }

    public ServingSnapshot Snapshot() => new()
    {
        Instances = _workers.Values.OrderBy(w => w.Role).ThenBy(w => w.Address, StringComparer.Ordinal).Select(w =>
        {
            var s = w.Status;
            return new InstanceSnapshot
            {
                Name = w.Address,
                Role = ClusterProtocol.RoleName(w.Role),
                Up = w.IsUp,
                Waiting = w.IsUp ? s?.Waiting ?? 0 : 0,
                WaitingTokens = w.IsUp ? s?.WaitingTokens ?? 0 : 0,
                Running = w.IsUp ? s?.Running ?? 0 : 0,
                KvBlocksUsed = s?.KvBlocksUsed ?? 0,
                KvBlocksTotal = s?.KvBlocksTotal ?? 0,
                Held = s?.Held ?? 0,
                TokensComputed = s?.TokensComputed ?? 0,
                BusySeconds = s?.BusySeconds ?? 0,
                Failure = s?.Failure is { Length: > 0 } f ? f : null,
                KvBlocksCached = s?.KvBlocksCached ?? 0,
                PrefixCacheQueries = s?.PrefixCacheQueries ?? 0,
                PrefixCacheHits = s?.PrefixCacheHits ?? 0,
            };
        }).ToArray(),
        KvDisk = WorkersKvDisk(),
    };

    /// <summary>
    /// The workers' disk tiers together, from their last statuses (a worker down keeps its last figures, so the sums do
    /// not drop while it is away); null when no worker has one.
    /// </summary>
    private KvDiskStats? WorkersKvDisk()
    {
        KvDiskStats? sum = null;
        foreach (var w in _workers.Values)
            if (w.Status?.KvDisk is { } disk) sum = (sum ?? default) + ClusterProtocol.FromWire(disk);
        return sum;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        foreach (var r in _inFlight.Keys) r.Request.Handle.Cancel();
        await Task.WhenAll(_inFlight.Keys.Select(r => r.Request.Handle.Completion.ContinueWith(_ => { }, TaskScheduler.Default)))
            .WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        _stopping.Cancel();
        try { await _heartbeats.ConfigureAwait(false); } catch (OperationCanceledException) { }
        _channels.Dispose();
    }
}

/// <summary>How a <see cref="ClusterEngine"/> finds and judges its workers.</summary>
public sealed record ClusterEngineOptions
{
    public required ClusterToken Token { get; init; }
    /// <summary>"host:port" entries (or URLs) of prefill workers.</summary>
    public IReadOnlyList<string> PrefillWorkers { get; init; } = [];
    public IReadOnlyList<string> DecodeWorkers { get; init; } = [];
    /// <summary>A worker that answers no heartbeat for this long is taken as down.</summary>
    public TimeSpan WorkerTimeout { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Longest prompt + completion per request; null: the model's trained context.</summary>
    public int? MaxContext { get; init; }
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
    /// <summary>Where workers joining and leaving are reported (default: standard error).</summary>
    public Action<string>? Log { get; init; }
    /// <summary>How a request picks its prefill worker (<c>--routing</c>): the in-process runtime's choices and rule.</summary>
    public EntryRouting Routing { get; init; } = EntryRouting.CacheAware;
    /// <summary>Cache-aware routing: the weight of a prompt's uncached tokens against a worker's queued tokens (<c>--cache-overlap-weight</c>).</summary>
    public double CacheOverlapWeight { get; init; } = 1.0;
    /// <summary>
    /// <c>--kv-overlap</c>: start each request's decode side when its prefill starts, so the decode worker pulls the KV block
    /// by block while later prompt chunks are computed (off: the pull starts once the prefill has ended).
    /// </summary>
    public bool KvOverlap { get; init; }
    /// <summary>
    /// <c>--local-prefill-threshold</c> (0: off): a prompt whose part not cached on a decode worker that takes prompts is
    /// at most this many tokens is prefilled there, with no prefill worker and no transfer (the in-process rule).
    /// </summary>
    public int LocalPrefillThreshold { get; init; }
    /// <summary>With <see cref="LocalPrefillThreshold"/>: while every prefill worker has this many prompt tokens queued, any prompt goes to a decode worker (0: never).</summary>
    public int PrefillBusyTokens { get; init; }
}
