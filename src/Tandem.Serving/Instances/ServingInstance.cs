using System.Collections.Concurrent;
using Tandem.Engine.Generation;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Serving.Diagnostics;
using Tandem.Serving.Scheduling;

namespace Tandem.Serving.Instances;

/// <summary>
/// An instance: a transformer on its own cores, a KV pool, and one loop thread that alone owns its
/// scheduler and pool (as llama.cpp's server loop owns its slots). Other threads post messages to its
/// inbox; cancellation is a flag on the request plus a wake-up. Each iteration: drain the inbox, act on
/// cancellations, then schedule(now) → execute → update, or sleep until the next message.
/// </summary>
internal abstract class ServingInstance : IDisposable, IEntryLoad, IDecodeLoad
{
    private readonly ConcurrentQueue<InstanceMessage> _inbox = new();
    private readonly AutoResetEvent _wake = new(false);
    private readonly Thread _thread;
    private volatile bool _stopping;
    private int _cancelPending;

    // Health and live step costs, written by the loop only: time spent in iterations that did work (Stopwatch
    // ticks), when the loop last finished an iteration, and why it died if it did.
    private long _busyTicks;
    private long _lastIteration = System.Diagnostics.Stopwatch.GetTimestamp();
    private volatile string? _failure;

    // Published by the loop after each iteration, read by the controller and Snapshot().
    private volatile int _waiting, _waitingTokens, _running, _usedBlocks, _cachedBlocks, _freeForNew;
    private int _queuedTokens;  // tokens posted but not yet computed (controller dispatch)
    private int _inFlightBlocks; // blocks of migrations posted but not yet taken in (controller dispatch)

    protected ServingInstance(string name, string role, IInstanceHost host, LanguageModel model, KvBlockPool pool,
        IReadOnlyList<int> cores, int maxBatch, int maxContext, bool pin)
    {
        Name = name;
        Role = role;
        Host = host;
        Cores = cores;
        Pin = pin;
        Kv = new PagedKvCacheManager(pool);
        if (pool.PrefixCaching)
        {
            CachedBlocks = new CachedBlockDirectory(pool.BlockCount);
            pool.PrefixListener = CachedBlocks;
        }
        int threads = Math.Max(1, cores.Count);
        if (host.StepLogCapacity > 0)
            Recorder = new StepRecorder(new StepLog(name, role, cores, threads, pool.ElementType, pool.BlockSize, host.StepLogCapacity,
                new StepLogModel(Path.GetFileName(model.File.Path), model.Fingerprint.ToString())), () => host.Now);
        Runner = new ModelRunner(new Transformer(model, threads, maxBatch, maxContext, worker =>
        {
            PrepareCurrentThread(cores.Count == 0 ? -1 : cores[worker % cores.Count], $"worker {worker}");
            Recorder?.AttachCurrentThread(worker);
        }), Recorder);
        _thread = new Thread(Loop) { IsBackground = true, Name = $"tandem-{name}" };
    }

    public string Name { get; }
    public string Role { get; }
    public IReadOnlyList<int> Cores { get; }
    private bool Pin { get; }
    protected IInstanceHost Host { get; }
    public PagedKvCacheManager Kv { get; }
    /// <summary>The blocks this instance has cached, for cache-aware routing (null when prefix caching is off).</summary>
    public CachedBlockDirectory? CachedBlocks { get; }
    protected ModelRunner Runner { get; }
    /// <summary>Records each step into <see cref="StepLog"/> (null when the host keeps no step log).</summary>
    protected StepRecorder? Recorder { get; }
    /// <summary>This instance's recent steps, or null.</summary>
    public StepLog? StepLog => Recorder?.Log;
    protected double Now => Host.Now;
    private IServingTrace? Trace => Host.Trace;

    /// <summary>Reports a finished step to the trace, if one listens (the lists are built only then).</summary>
    protected void TraceStep(double start, double end, SchedulerOutput output)
    {
        if (Trace is not { } trace) return;
        trace.OnStep(Name, start, end, output.Scheduled.Select(c => new TracedChunk(c.Request.RequestId, c.NumTokens)).ToArray(),
            output.ToPull.Select(r => r.RequestId).ToArray());
    }

    public int QueuedTokens => Volatile.Read(ref _queuedTokens);
    public int RunningCount => _running;
    /// <summary>Free blocks minus those promised to migrations already queued here.</summary>
    public int FreeCapacityBlocks => _freeForNew - Volatile.Read(ref _inFlightBlocks);

    public void Start() => _thread.Start();

    /// <summary>
    /// Runs <see cref="Transformer.WarmUp"/> on this instance's transformer (its own thread team, the pool's KV type),
    /// before <see cref="Start"/>: the JIT's work, the team's threads and the weights' pages are paid for before the
    /// server says it is ready, not inside its first request. Touches neither the pool nor the step log.
    /// </summary>
    public void WarmUp() => Runner.Transformer.WarmUp(Kv.Pool.ElementType);

    public void Post(InstanceMessageKind kind, Request request)
    {
        if (kind == InstanceMessageKind.Submit) Interlocked.Add(ref _queuedTokens, request.NumTokensToCompute);
        if (kind == InstanceMessageKind.Migrate) Interlocked.Add(ref _inFlightBlocks, Kv.Pool.BlocksFor(request.NumComputedTokens + 1));
        if (kind != InstanceMessageKind.Release) request.Owner = this;
        _inbox.Enqueue(new InstanceMessage(kind, request));
        _wake.Set();
        // Posted while the loop was dying: the loop's own last drain may have missed it, so fail it here.
        if (_failure is { } failure) DrainInboxAsFailed(new InvalidOperationException($"{Name}: {failure}"));
    }

    /// <summary>Called by any thread after it flagged a request this instance may own.</summary>
    public void NotifyCancel()
    {
        Interlocked.Exchange(ref _cancelPending, 1);
        _wake.Set();
    }

    /// <summary>Prompt tokens computed or dropped: they leave this instance's queue.</summary>
    protected void Dequeued(int tokens) => Interlocked.Add(ref _queuedTokens, -tokens);
    protected void Requeued(int tokens) => Interlocked.Add(ref _queuedTokens, tokens);

    /// <summary>
    /// Runs at the top of every iteration, outside the step's own recovery: tests make the loop die (throw) or stall
    /// (block) with it, to check that health says so. Null in production.
    /// </summary>
    internal volatile Action? FaultInjection;

    private void Loop()
    {
        PrepareCurrentThread(Cores.Count == 0 ? -1 : Cores[0], "loop");
        Recorder?.AttachCurrentThread(0);
        try
        {
            RunLoop();
        }
        catch (Exception e)
        {
            // Not a failed step (those are caught inside and fail only their requests): the loop itself broke. Its
            // requests are failed, and /health reports the instance dead from now on.
            _failure = $"its loop stopped: {e.GetType().Name}: {e.Message}";
            Host.Warn($"{Name}: {_failure}");
            try { FailAll(e); } catch (Exception) { }
            DrainInboxAsFailed(e);
        }
    }

    private void RunLoop()
    {
        while (!_stopping)
        {
            FaultInjection?.Invoke();
            bool worked = false;
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                worked |= DrainInbox();
                if (Interlocked.Exchange(ref _cancelPending, 0) != 0) { HandleCancellations(); worked = true; }
                worked |= Step();
            }
            catch (Exception e)
            {
                Host.Warn($"{Name}: step failed, failing its requests: {e}");
                FailAll(e);
            }
            long end = System.Diagnostics.Stopwatch.GetTimestamp();
            if (worked) Volatile.Write(ref _busyTicks, _busyTicks + (end - start));
            Volatile.Write(ref _lastIteration, end);
            Publish();
            if (!worked && !_stopping)
            {
                _wake.WaitOne(IdleWaitMilliseconds);
                // Awake with work: the time since the last iteration counts from here, not from when it fell idle.
                Volatile.Write(ref _lastIteration, System.Diagnostics.Stopwatch.GetTimestamp());
            }
        }
    }

    /// <summary>Wakes the loop without a message (a fault injected by a test takes effect at once; a pull off the loop ended).</summary>
    internal void Wake() => _wake.Set();

    /// <summary>How long an idle loop sleeps before it looks again without being woken (default: until woken).</summary>
    protected virtual int IdleWaitMilliseconds => Timeout.Infinite;

    /// <summary>After the loop died: requests still posted to it fail instead of waiting for a loop that is gone.</summary>
    private void DrainInboxAsFailed(Exception error)
    {
        while (_inbox.TryDequeue(out var m))
            if (m.Kind != InstanceMessageKind.Release) Fail(m.Request, error);
    }

    /// <summary>Why the loop is gone (null while it runs): the controller sends it nothing more, /health reports it.</summary>
    public string? Failure => _failure;

    private bool DrainInbox()
    {
        bool any = false;
        while (_inbox.TryDequeue(out var m))
        {
            any = true;
            var r = m.Request;
            if (m.Kind != InstanceMessageKind.Release) Trace?.OnIntake(Name, r.RequestId, Now);
            if (m.Kind == InstanceMessageKind.Migrate) Interlocked.Add(ref _inFlightBlocks, -Kv.Pool.BlocksFor(r.NumComputedTokens + 1));
            if (m.Kind == InstanceMessageKind.Release) { OnRelease(r); continue; }
            if (r.IsCancelRequested)
            {
                if (m.Kind == InstanceMessageKind.Submit) Dequeued(r.NumTokensToCompute);
                DropCancelledOnIntake(r);
                continue;
            }
            OnIntake(m.Kind, r);
        }
        return any;
    }

    /// <summary>A request arrives (Submit or Migrate) not cancelled.</summary>
    protected abstract void OnIntake(InstanceMessageKind kind, Request request);
    /// <summary>A request arrived already cancelled: free what it holds elsewhere and complete it.</summary>
    protected virtual void DropCancelledOnIntake(Request request)
    {
        request.Migration?.Release();
        request.Migration = null;
        Complete(request, FinishReason.Cancelled);
    }
    protected virtual void OnRelease(Request request) => throw new InvalidOperationException($"{Name} holds no KV for others");
    protected abstract void HandleCancellations();
    /// <summary>One schedule → execute → update round; false when there was nothing to do.</summary>
    protected abstract bool Step();
    /// <summary>Fails every request this instance owns and frees their KV (after an unexpected error).</summary>
    protected abstract void FailAll(Exception error);
    protected abstract (int Waiting, int WaitingTokens, int Running, int FreeForNew) Counts();
    /// <summary>After the loops stopped: completes every request still here as cancelled (runtime shutdown).</summary>
    public abstract void CancelAllAtShutdown();

    protected void DrainInboxAtShutdown()
    {
        while (_inbox.TryDequeue(out var m))
            if (m.Kind != InstanceMessageKind.Release) Complete(m.Request, FinishReason.Cancelled);
    }

    private void Publish()
    {
        var (waiting, tokens, running, free) = Counts();
        _waiting = waiting;
        _waitingTokens = tokens;
        _running = running;
        _freeForNew = free;
        _usedBlocks = Kv.Pool.UsedBlocks;
        _cachedBlocks = Kv.Pool.CachedBlocks;
    }

    public InstanceSnapshot Snapshot() => new()
    {
        Name = Name,
        Role = Role,
        Waiting = _waiting,
        WaitingTokens = _waitingTokens,
        Running = _running,
        KvBlocksUsed = _usedBlocks,
        KvBlocksCached = _cachedBlocks,
        PrefixCacheQueries = Kv.PrefixCacheQueries,
        PrefixCacheHits = Kv.PrefixCacheHits,
        KvBlocksTotal = Kv.Pool.BlockCount,
        Cores = Cores,
        Held = HeldCount,
        TokensComputed = Runner.TokensComputed,
        BusySeconds = System.Diagnostics.Stopwatch.GetElapsedTime(0, Volatile.Read(ref _busyTicks)).TotalSeconds,
        SecondsSinceIteration = System.Diagnostics.Stopwatch.GetElapsedTime(Volatile.Read(ref _lastIteration)).TotalSeconds,
        Pending = !_inbox.IsEmpty,
        Failure = _failure,
    };

    /// <summary>Published by prefill instances: requests whose KV waits here to be pulled.</summary>
    protected volatile int HeldCount;

    /// <summary>Handles a sampled token; true when the request ended (and was completed).</summary>
    protected FinishReason? ProcessToken(in SampledToken t, double now) => t.Request.Stream!.OnToken(t.Request, t.TokenId, t.LogProb, now);

    protected void Complete(Request request, FinishReason reason)
    {
        request.Status = reason switch
        {
            FinishReason.Stop => RequestStatus.FinishedStopped,
            FinishReason.Length => RequestStatus.FinishedLengthCapped,
            _ => RequestStatus.FinishedCancelled,
        };
        request.Stream?.Finish(request, reason, Now);
    }

    protected void Fail(Request request, Exception error)
    {
        request.Status = RequestStatus.FinishedError;
        request.Stream?.Fail(request, error, Now);
    }

    protected static RequestStatus StatusOf(FinishReason reason) => reason switch
    {
        FinishReason.Stop => RequestStatus.FinishedStopped,
        FinishReason.Length => RequestStatus.FinishedLengthCapped,
        _ => RequestStatus.FinishedCancelled,
    };

    /// <summary>Pins the calling thread (the loop or a team worker) to its core and gives it the instances' priority.</summary>
    private void PrepareCurrentThread(int core, string what)
    {
        if (Host.InstanceNice != 0 && ThreadNice.TrySet(Host.InstanceNice) is { } refused)
            Host.Warn($"{Name}: threads keep their priority: {refused}"); // once per instance: the runtime drops repeated warnings
        if (!Pin || core < 0) return;
        string? error = CpuAffinity.TryPinCurrentThread(core);
        if (error != null) Host.Warn($"{Name} {what}: not pinned to core {core}: {error}");
    }

    /// <summary>Stops the loop (it finishes its current step first).</summary>
    public void Stop()
    {
        _stopping = true;
        _wake.Set();
    }

    public void Join() => _thread.Join();

    public void Dispose()
    {
        Runner.Dispose();
        Recorder?.Dispose();
        _wake.Dispose();
    }
}
