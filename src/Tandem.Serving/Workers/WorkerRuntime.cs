using System.Collections.Concurrent;
using Tandem.Engine.Generation;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Engine.Sampling;
using Tandem.Engine.Structured;
using Tandem.Engine.Tokenization;
using Tandem.Serving.Instances;
using Tandem.Serving.Scheduling;

namespace Tandem.Serving.Workers;

/// <summary>
/// One cluster worker: a single prefill or decode instance (the same <see cref="PrefillInstance"/> /
/// <see cref="DecodeInstance"/> the in-process runtime runs) whose requests come from, and go back to, a remote
/// frontend. A prefill worker holds each prefilled request's KV under an id until a decode worker has pulled it
/// and released it, or until the KV lease runs out; a decode worker pulls through the <see cref="IKvSource"/> it
/// is given, or, with a local prefill budget, prefills a prompt sent without KV itself (conditional disaggregation).
/// Requests whose KV is lost (failed pull, preemption, or a prompt the decode pool cannot hold now) end with
/// <see cref="KvLostException"/> so the frontend recomputes them on a prefill worker.
/// </summary>
public sealed class WorkerRuntime : IInstanceHost, IAsyncDisposable
{
    private readonly LanguageModel _model;
    private readonly bool _ownsModel;
    private readonly TimeProvider _time;
    private readonly long _startTimestamp;
    private readonly Action<string> _warn;
    private readonly HashSet<string> _warned = [];
    private readonly ServingInstance _instance;
    private readonly KvDiskTier? _disk;
    private readonly ConcurrentDictionary<Request, TaskCompletionSource<HeldKv>> _awaitingHold = new();
    private readonly ConcurrentDictionary<string, HeldEntry> _held = new();
    private readonly ITimer _leaseTimer;
    private long _arrivals;
    private long _leaseExpiries;
    private long _blocksSentEarly;
    private int _disposed;

    public WorkerRole Role { get; }
    public ModelConfig Config => _model.Config;
    public ModelFingerprint Fingerprint => _model.Fingerprint;
    public Tokenizer Tokenizer { get; }
    public int MaxContext { get; }
    public ServingOptions Options { get; }
    /// <summary>How long prefilled KV waits for a pull before it is freed.</summary>
    public TimeSpan KvLease { get; }
    public int BlockSize => Options.BlockSize;
    /// <summary>Decode workers: most prompt tokens a step prefills of prompts sent without KV (its --local-prefill-threshold); 0: none.</summary>
    public int LocalPrefillBudget { get; }
    /// <summary>The KV disk tier under this worker's pool (null: none).</summary>
    public KvDiskTier? KvDisk => _disk;
    public int KvBlocksTotal => _instance.Kv.Pool.BlockCount;
    /// <summary>Free blocks less those promised to requests queued here.</summary>
    public int KvBlocksFreeForNew => _instance.FreeCapacityBlocks;
    /// <summary>The block hash chain of the worker's pool (null when prefix caching is off): a frontend hashes prompts with its root.</summary>
    public KvPrefixHash? PrefixHash => _instance.Kv.Pool.PrefixHash;
    /// <summary>The blocks the worker has cached, reported to frontends for cache-aware routing (null when prefix caching is off).</summary>
    public CachedBlockDirectory? CachedBlocks => _instance.CachedBlocks;
    /// <summary>Held KV freed because no one pulled it within the lease, since start.</summary>
    public long KvLeaseExpiries => Interlocked.Read(ref _leaseExpiries);

    public static WorkerRuntime Start(ServingOptions options, WorkerRole role, TimeSpan kvLease)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (kvLease <= TimeSpan.Zero) throw new ArgumentException($"the KV lease must be positive; got {kvLease}", nameof(kvLease));
        var model = options.Model ?? LanguageModel.Load(options.ModelPath!);
        try
        {
            return new WorkerRuntime(options, role, kvLease, model, ownsModel: options.Model == null);
        }
        catch
        {
            if (options.Model == null) model.Dispose();
            throw;
        }
    }

    private WorkerRuntime(ServingOptions o, WorkerRole role, TimeSpan kvLease, LanguageModel model, bool ownsModel)
    {
        Options = o;
        Role = role;
        KvLease = kvLease;
        LocalPrefillBudget = role == WorkerRole.Decode ? o.LocalPrefillThreshold : 0;
        _model = model;
        _ownsModel = ownsModel;
        _time = o.TimeProvider;
        _startTimestamp = _time.GetTimestamp();
        _warn = o.OnWarning ?? (m => Console.Error.WriteLine("warning: " + m));
        Tokenizer = Tokenizer.FromGguf(model.File);
        MaxContext = o.MaxContext ?? model.Config.ContextLength;
        _ = model.Fingerprint; // hashed now, not at the first handshake
        var cores = ServingRuntime.AssignCores(o, 1, Warn)[0];
        _disk = KvDiskTier.Open(o, model, Warn);
        KvBlockPool pool;
        try
        {
            pool = ServingRuntime.NewPool(o, model, _disk, cores.Count);
        }
        catch
        {
            _disk?.Dispose();
            throw;
        }
        _instance = role == WorkerRole.Prefill
            ? new PrefillInstance("prefill", this, model, pool, cores, o.PrefillTokenTarget, MaxContext, o.PinThreads)
            : new DecodeInstance("decode", this, model, pool, cores, o.MaxNumSeqs, (int)Math.Ceiling(pool.BlockCount * o.WatermarkFraction), MaxContext, o.PinThreads,
                localPrefillBudget: LocalPrefillBudget);
        _instance.Start();
        var tick = TimeSpan.FromTicks(Math.Clamp(kvLease.Ticks / 4, TimeSpan.FromMilliseconds(50).Ticks, TimeSpan.FromSeconds(1).Ticks));
        _leaseTimer = _time.CreateTimer(_ => ExpireLeases(), null, tick, tick);
    }

    public double Now => _time.GetElapsedTime(_startTimestamp).TotalSeconds;

    public void Warn(string message)
    {
        lock (_warned)
            if (!_warned.Add(message)) return;
        _warn(message);
    }

    /// <summary>
    /// Queues a request from the frontend: on a prefill worker (no <paramref name="kv"/>) its tokens are
    /// prefilled; on a decode worker the KV of all but its last token is pulled from <paramref name="kv"/> first, or,
    /// without <paramref name="kv"/> and with a <see cref="LocalPrefillBudget"/>, its tokens are prefilled there.
    /// Throws <see cref="RequestRejectedException"/> for a request this worker can never run.
    /// </summary>
    public WorkerSubmission Submit(WorkerRequest w, IKvSource? kv)
    {
        ArgumentNullException.ThrowIfNull(w);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Role == WorkerRole.Prefill && kv != null) throw new RequestRejectedException("a prefill worker takes no KV");
        bool local = Role == WorkerRole.Decode && kv == null;
        if (local && LocalPrefillBudget == 0)
            throw new RequestRejectedException("a decode worker needs the KV's location: this one prefills no prompts (its --local-prefill-threshold is 0)");
        if (local && w.KvOverlap) throw new RequestRejectedException("a prompt prefilled on the decode worker has no KV to pull while its prefill runs");
        if (w.MaxTokens < 1) throw new RequestRejectedException($"max_tokens must be at least 1 on a worker; got {w.MaxTokens}");
        if (w.KvOverlap && Role == WorkerRole.Decode && w.MaxTokens < 2)
            throw new RequestRejectedException($"KV pulled while its prefill runs brings the first output token: max_tokens must be at least 2; got {w.MaxTokens}");
        int minTokens = Role == WorkerRole.Decode && !local ? 2 : 1;
        if (w.TokenIds.Length < minTokens) throw new RequestRejectedException($"a {Role.ToString().ToLowerInvariant()} request needs at least {minTokens} tokens");
        var request = new GenerationRequest
        {
            Id = w.Id,
            PromptTokens = w.TokenIds,
            MaxTokens = w.MaxTokens,
            Sampling = w.Sampling,
            IgnoreEos = w.IgnoreEos,
            StructuredOutput = w.StructuredOutput,
            ToolCalls = w.ToolCalls,
        };
        RequestAdmission.Validate(request, Config.VocabSize, MaxContext, KvBlocksTotal, BlockSize);
        RequestStream stream;
        try
        {
            stream = new RequestStream(request, Tokenizer, Config.VocabSize);
        }
        catch (ArgumentException e)
        {
            throw new RequestRejectedException(e.Message);
        }
        if (w.RandomState is { } state) stream.Sampler.RandomState = state;
        if (stream.Constraint is { } constraint)
        {
            // The constraint's state travels as the tokens it has taken: run them through it again.
            if ((uint)w.OutputStart > (uint)w.TokenIds.Length)
                throw new RequestRejectedException($"the output start {w.OutputStart} is outside the request's {w.TokenIds.Length} tokens");
            if (!constraint.TryAcceptAll(w.TokenIds.AsSpan(w.OutputStart)))
                throw new RequestRejectedException("the tokens generated so far are not valid structured output (or tool calls) for the request's grammar");
        }
        var r = new Request(w.Id, w.TokenIds, w.MaxTokens, Interlocked.Increment(ref _arrivals), Now) { Stream = stream };
        var handle = new RequestHandle(w.Id, stream.Reader, stream.Completion, () =>
        {
            r.RequestCancel();
            r.Owner?.NotifyCancel();
        });
        if (local)
        {
            // Conditional disaggregation: no KV to pull. The decode loop prefills it, or gives it back (Resubmit).
            r.Timeline.PrefillQueued = r.Timeline.Arrival;
            _instance.Post(InstanceMessageKind.Submit, r);
            return new WorkerSubmission(handle, null);
        }
        if (kv == null)
        {
            var held = new TaskCompletionSource<HeldKv>(TaskCreationOptions.RunContinuationsAsynchronously);
            _awaitingHold[r] = held;
            Task<HeldKv>? started = w.KvOverlap ? Announce(r) : null;
            // A request that ends at prefill (or fails, or is cancelled) never holds KV.
            _ = stream.Completion.ContinueWith(_ =>
            {
                if (_awaitingHold.TryRemove(r, out var h)) h.TrySetCanceled();
                if (r.KvProgress != null) ForgetUnheld(r);
            }, TaskScheduler.Default);
            r.Timeline.PrefillQueued = r.Timeline.Arrival;
            _instance.Post(InstanceMessageKind.Submit, r);
            return new WorkerSubmission(handle, held.Task) { Started = started };
        }
        // Pulled while its prefill runs: the KV covers every token, and the next one comes with it.
        r.NumComputedTokens = w.KvOverlap ? w.TokenIds.Length : w.TokenIds.Length - 1;
        r.Migration = kv;
        _instance.Post(InstanceMessageKind.Migrate, r);
        return new WorkerSubmission(handle, null);
    }

    /// <summary>Workers record no trace: the planner replays the in-process runtime.</summary>
    IServingTrace? IInstanceHost.Trace => null;
    int IInstanceHost.StepLogCapacity => Options.StepLogCapacity;
    int IInstanceHost.InstanceNice => Options.InstanceNice;

    /// <summary>
    /// An overlapped pull (--kv-overlap): the request's KV gets its id now, pullable block by block as its prefill computes
    /// it. The returned task completes with that id when the prefill starts (the frontend then starts the decode side).
    /// </summary>
    private Task<HeldKv> Announce(Request r)
    {
        string id = NewKvId(r);
        var progress = new PrefillKvProgress(id, r.NumTokens);
        r.KvProgress = progress;
        _held[id] = new HeldEntry(r, null, _time.GetTimestamp()) { Id = id, Progress = progress };
        return progress.Started.ContinueWith(t =>
        {
            t.GetAwaiter().GetResult(); // cancelled: it ended before it started
            return new HeldKv(id, progress.Tokens, 0);
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private static string NewKvId(Request r) => $"{r.RequestId}/{Guid.NewGuid():N}";

    /// <summary>An announced request ended without holding KV (its loop ended the progress first): its id names nothing now.</summary>
    private void ForgetUnheld(Request r)
    {
        if (!_held.TryGetValue(r.KvProgress!.Id, out var e)) return;
        lock (e)
        {
            if (e.Source != null) return; // held after all: it is freed as held KV is
            e.Released = true;
        }
        _held.TryRemove(e.Id, out _);
        foreach (var tied in e.Tied) tied.Dispose();
    }

    void IInstanceHost.RouteToDecode(Request request)
    {
        var source = (LocalKvSource)request.Migration!;
        request.Migration = null;
        HeldEntry? entry = null;
        bool releaseNow = false;
        // Announced: the id is known to the frontend and maybe pulled from already; the token sampled after the prompt
        // goes to that puller, the blocks are held KV from now on.
        if (request.KvProgress is { } progress && _held.TryGetValue(progress.Id, out entry))
        {
            lock (entry)
            {
                entry.Source = source;
                entry.Since = _time.GetTimestamp();
                releaseNow = entry.ReleaseOnHold;
            }
            progress.Hold(new PrefilledToken(request.AllTokenIds[^1], request.Stream is { } s && !s.Sampler.Params.IsGreedy ? s.Sampler.RandomState : null));
        }
        else
        {
            entry = new HeldEntry(request, source, _time.GetTimestamp()) { Id = NewKvId(request) };
            _held[entry.Id] = entry;
        }
        bool waited = _awaitingHold.TryRemove(request, out var waiter);
        waiter?.TrySetResult(new HeldKv(entry.Id, source.Sequence.Length, request.NumCachedTokens));
        if (!waited || releaseNow) ReleaseKv(entry.Id); // the frontend's call is gone, or the overlapped puller gave the KV up
    }

    void IInstanceHost.Resubmit(Request request) =>
        request.Stream?.Fail(request, new KvLostException(request.NumPreemptions > 0
            ? $"request {request.RequestId} was preempted on this decode worker to make room"
            : $"request {request.RequestId}'s prompt does not fit beside this decode worker's requests now: it goes to a prefill worker"), Now);

    /// <summary>
    /// Starts reading held KV for a puller: the sequence (which the prefill loop no longer touches) or null when no
    /// KV is held under <paramref name="kvId"/> or another pull of it runs. Call <see cref="EndPull"/> after.
    /// </summary>
    public KvSequence? BeginPull(string kvId)
    {
        if (!_held.TryGetValue(kvId, out var e)) return null;
        lock (e)
        {
            if (e.Pulling || e.Released || e.Source == null) return null;
            e.Pulling = true;
            return e.Source.Sequence;
        }
    }

    /// <summary>
    /// Starts an overlapped pull of announced KV (--kv-overlap), its prefill running or done: its progress, or null when
    /// no such KV is announced under <paramref name="kvId"/> or another pull of it runs. Call <see cref="EndPull"/> after.
    /// </summary>
    public PrefillKvProgress? BeginOverlappedPull(string kvId)
    {
        if (!_held.TryGetValue(kvId, out var e) || e.Progress == null) return null;
        lock (e)
        {
            if (e.Pulling || e.Released) return null;
            e.Pulling = true;
            return e.Progress;
        }
    }

    /// <summary>The progress of KV announced under <paramref name="kvId"/> (--kv-overlap), or null.</summary>
    public PrefillKvProgress? Announced(string kvId) => _held.TryGetValue(kvId, out var e) ? e.Progress : null;

    /// <summary>Blocks of announced KV sent while their prefill still ran, since start (the overlap that happened).</summary>
    public long KvBlocksSentEarly => Interlocked.Read(ref _blocksSentEarly);

    /// <summary>Counts a block of announced KV that a puller copied while its prefill still ran.</summary>
    public void CountBlockSentEarly() => Interlocked.Increment(ref _blocksSentEarly);

    /// <summary>The pull stream ended; a release that came meanwhile frees the KV now, a failed pull restarts the lease.</summary>
    public void EndPull(string kvId)
    {
        if (!_held.TryGetValue(kvId, out var e)) return;
        bool free;
        lock (e)
        {
            e.Pulling = false;
            e.Since = _time.GetTimestamp();
            free = e.ReleaseAfterPull;
        }
        if (free) ReleaseKv(kvId);
    }

    /// <summary>
    /// Ties something to held KV, disposed when the KV is freed (released or expired), or at once when it already is:
    /// a copy made for a puller (a shared-memory file), or the shutdown drain's count of work in flight (a draining
    /// worker stays up while KV waits to be pulled).
    /// </summary>
    public void FreeWithKv(string kvId, IDisposable tied)
    {
        ArgumentNullException.ThrowIfNull(tied);
        if (_held.TryGetValue(kvId, out var e))
            lock (e)
                if (!e.Released)
                {
                    e.Tied.Add(tied);
                    return;
                }
        tied.Dispose();
    }

    /// <summary>The puller imported the KV (or nobody will pull it): frees it. False when none was held under the id.</summary>
    public bool ReleaseKv(string kvId)
    {
        if (!_held.TryGetValue(kvId, out var e)) return false;
        lock (e)
        {
            if (e.Released) return false;
            if (e.Source == null)
            {
                e.ReleaseOnHold = true; // announced, still prefilling: freed once held (or with the request)
                return true;
            }
            if (e.Pulling)
            {
                e.ReleaseAfterPull = true; // the pull still reads these blocks
                return true;
            }
            e.Released = true;
        }
        _held.TryRemove(kvId, out _);
        e.Source!.Release();
        foreach (var tied in e.Tied) tied.Dispose();
        return true;
    }

    private void ExpireLeases()
    {
        foreach (var (id, e) in _held)
        {
            lock (e)
                if (e.Pulling || e.Released || e.Source == null || _time.GetElapsedTime(e.Since) < KvLease) continue;
            if (!ReleaseKv(id)) continue;
            Interlocked.Increment(ref _leaseExpiries);
            _warn($"KV of request {e.Request.RequestId} was not pulled within the {KvLease.TotalSeconds:0.###} s lease: freed");
        }
    }

    /// <summary>Test hook: runs <paramref name="fault"/> at the top of every iteration of the worker's loop (throw: it dies; block: it stalls).</summary>
    internal void InjectLoopFault(Action? fault)
    {
        _instance.FaultInjection = fault;
        _instance.Wake();
    }

    /// <summary>KV held for pulls now.</summary>
    public int HeldCount => _held.Count;

    public InstanceSnapshot Snapshot() => _instance.Snapshot();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _leaseTimer.DisposeAsync().ConfigureAwait(false);
        _instance.Stop();
        await Task.Run(_instance.Join).ConfigureAwait(false);
        foreach (var e in _held.Values)
            lock (e)
            {
                // Shared-memory files would outlive the process otherwise.
                e.Released = true;
                foreach (var tied in e.Tied) tied.Dispose();
                e.Tied.Clear();
            }
        _instance.CancelAllAtShutdown();
        if (_disk is not null)
            await Task.Run(() =>
            {
                _instance.Kv.Pool.SpillCachedToDisk();
                _disk.Dispose();
            }).ConfigureAwait(false);
        _instance.Dispose();
        if (_ownsModel) _model.Dispose();
    }

    private sealed class HeldEntry(Request request, LocalKvSource? source, long since)
    {
        public required string Id { get; init; }
        public Request Request { get; } = request;
        /// <summary>Null while an announced request is still prefilling (--kv-overlap): no lease runs, the loop owns the blocks.</summary>
        public LocalKvSource? Source { get; set; } = source;
        /// <summary>Announced (--kv-overlap): the prompt's KV as its prefill computes it.</summary>
        public PrefillKvProgress? Progress { get; init; }
        /// <summary>Released before its prefill was done: freed as soon as it is held.</summary>
        public bool ReleaseOnHold { get; set; }
        public long Since { get; set; } = since;
        public bool Pulling { get; set; }
        public bool ReleaseAfterPull { get; set; }
        public bool Released { get; set; }
        /// <summary>Disposed when the KV is freed (<see cref="FreeWithKv"/>).</summary>
        public List<IDisposable> Tied { get; } = [];
    }
}

/// <summary>Which half of DistServe a worker runs.</summary>
public enum WorkerRole
{
    Prefill,
    Decode,
}

/// <summary>
/// A request as a worker gets it: the prompt followed by the tokens generated so far, how many more to make,
/// and the sampling state to continue from (the frontend owns text, stop strings and the client's stream).
/// </summary>
public sealed record WorkerRequest
{
    public required string Id { get; init; }
    public required int[] TokenIds { get; init; }
    /// <summary>Tokens still to generate.</summary>
    public required int MaxTokens { get; init; }
    /// <summary>With a concrete seed, so every worker continues one random stream.</summary>
    public required SamplingParams Sampling { get; init; }
    /// <summary>The random state after the tokens so far; null: fresh from the seed.</summary>
    public Xoshiro256StarStar? RandomState { get; init; }
    public bool IgnoreEos { get; init; }
    /// <summary>Structured output (null: free text); its state is rebuilt from the tokens at <see cref="OutputStart"/> on.</summary>
    public JsonGrammar? StructuredOutput { get; init; }
    /// <summary>Tool calls enforced where the reply writes them (null: none); rebuilt from the tokens like <see cref="StructuredOutput"/>.</summary>
    public ToolCallSyntax? ToolCalls { get; init; }
    /// <summary>Where the output begins in <see cref="TokenIds"/> (the original prompt's length).</summary>
    public int OutputStart { get; init; }
    /// <summary>
    /// KV pulled while the prefill runs (--kv-overlap). Prefill workers: announce the KV when the prefill starts and let it
    /// be pulled block by block. Decode workers: the KV covers every one of <see cref="TokenIds"/> and brings the token the
    /// prefill sampled after them, which is the request's first output token.
    /// </summary>
    public bool KvOverlap { get; init; }
}

/// <summary>A queued worker request: its token stream, and on a prefill worker the KV held once it is prefilled.</summary>
public sealed record WorkerSubmission(RequestHandle Handle, Task<HeldKv>? Held)
{
    /// <summary>
    /// Prefill workers, with <see cref="WorkerRequest.KvOverlap"/>: completes with the KV's id when the prefill starts (its
    /// blocks can be pulled as they are computed); cancelled when the request ends before. Null otherwise.
    /// </summary>
    public Task<HeldKv>? Started { get; init; }
}

/// <summary>
/// Prefilled KV waiting under <see cref="Id"/> on a prefill worker; <see cref="CachedTokens"/> of its tokens came from the
/// worker's prefix cache (the client's usage.prompt_tokens_details.cached_tokens).
/// </summary>
public sealed record HeldKv(string Id, int Tokens, int CachedTokens);
