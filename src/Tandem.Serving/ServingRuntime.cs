using System.Runtime.InteropServices;
using Tandem.Engine.Generation;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Engine.Tokenization;
using Tandem.Serving.Instances;
using Tandem.Serving.Scheduling;

namespace Tandem.Serving;

/// <summary>
/// The in-process runtime: DistServe's central controller in front of its instances. Submit validates a
/// request, stamps its arrival on the one clock, and dispatches it FCFS to the prefill (or colocated)
/// instance with the shortest queue in tokens; a prefilled request goes to the decode instance with the
/// most free KV capacity, which pulls its KV when it has room. Every lifetime event is recorded on the
/// request's <see cref="RequestTimeline"/>.
/// </summary>
public sealed class ServingRuntime : IServingEngine, IInstanceHost
{
    private readonly LanguageModel _model;
    private readonly bool _ownsModel;
    private readonly TimeProvider _time;
    private readonly long _startTimestamp;
    private readonly Action<string> _warn;
    private readonly HashSet<string> _warned = [];
    private readonly List<ServingInstance> _instances = [];
    private readonly List<ServingInstance> _entry = [];        // prefill or colocated instances
    private readonly List<DecodeInstance> _decode = [];
    private readonly int _maxRequestBlocks;                      // the largest request (prompt + max_tokens) every pool it passes can hold, in blocks
    private readonly int _blockSize;
    private long _arrivals;
    private int _roundRobin;
    private KvPrefixHash? _prefixHash; // the entry pools' common block hash chain, for cache-aware routing
    private readonly KvDiskTier? _disk;   // shared by every pool, when there is one
    private int _disposed;

    public ModelConfig Config => _model.Config;
    public Tokenizer Tokenizer { get; }
    public int MaxContext { get; }
    public int KvCapacityTokens => _maxRequestBlocks * _blockSize;
    public ServingMode Mode { get; }
    public ServingOptions Options { get; }
    /// <summary>The KV disk tier under the pools (null: none).</summary>
    public KvDiskTier? KvDisk => _disk;

    /// <summary>Builds the instances, starts their loops, and returns the runtime.</summary>
    public static ServingRuntime Start(ServingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var model = options.Model ?? LanguageModel.Load(options.ModelPath!);
        try
        {
            return new ServingRuntime(options, model, ownsModel: options.Model == null);
        }
        catch
        {
            if (options.Model == null) model.Dispose();
            throw;
        }
    }

    private ServingRuntime(ServingOptions o, LanguageModel model, bool ownsModel)
    {
        Options = o;
        Mode = o.Mode;
        _model = model;
        _ownsModel = ownsModel;
        _time = o.TimeProvider;
        _startTimestamp = _time.GetTimestamp();
        _warn = o.OnWarning ?? (m => Console.Error.WriteLine("warning: " + m));
        _blockSize = o.BlockSize;
        Tokenizer = Tokenizer.FromGguf(model.File);
        MaxContext = o.MaxContext ?? model.Config.ContextLength;
        if (MaxContext > model.Config.ContextLength)
            Warn($"MaxContext {MaxContext} is beyond the model's trained context of {model.Config.ContextLength} tokens: quality may drop");

        var cores = AssignCores(o);
        int watermark(KvBlockPool p) => (int)Math.Ceiling(p.BlockCount * o.WatermarkFraction);
        _disk = KvDiskTier.Open(o, model, Warn);
        try
        {
            if (o.Mode == ServingMode.Disaggregated)
            {
                _ = model.Fingerprint; // hashes every weight once, now rather than at the first migration
                for (int i = 0; i < o.PrefillInstances; i++)
                {
                    var inst = new PrefillInstance($"prefill-{i}", this, model, NewPool(o, model, _disk, cores[i].Count), cores[i], o.PrefillTokenTarget, MaxContext, o.PinThreads);
                    _instances.Add(inst);
                    _entry.Add(inst);
                }
                for (int i = 0; i < o.DecodeInstances; i++)
                {
                    var pool = NewPool(o, model, _disk, cores[o.PrefillInstances + i].Count);
                    var inst = new DecodeInstance($"decode-{i}", this, model, pool, cores[o.PrefillInstances + i], o.MaxNumSeqs, watermark(pool), MaxContext, o.PinThreads,
                        localPrefillBudget: o.LocalPrefillThreshold);
                    _instances.Add(inst);
                    _decode.Add(inst);
                }
            }
            else
            {
                var policy = o.Mode == ServingMode.Chunked ? ColocatedPolicy.Chunked : ColocatedPolicy.PrefillFirst;
                int budget = o.Mode == ServingMode.Chunked ? o.ChunkBudget : o.PrefillTokenTarget;
                for (int i = 0; i < o.ColocatedInstances; i++)
                {
                    var pool = NewPool(o, model, _disk, cores[i].Count);
                    var inst = new ColocatedInstance($"colocated-{i}", this, model, pool, cores[i], policy, budget, o.MaxNumSeqs, watermark(pool), MaxContext, o.PinThreads);
                    _instances.Add(inst);
                    _entry.Add(inst);
                }
            }
            // Before any loop starts, so the server reports ready warm: each instance on its own cores, all at once.
            Task.WhenAll(_instances.Select(i => Task.Run(i.WarmUp))).GetAwaiter().GetResult();
        }
        catch
        {
            foreach (var i in _instances) i.Dispose();
            _disk?.Dispose();
            throw;
        }
        _maxRequestBlocks = _instances.Min(i => i.Kv.TotalBlocks);
        _prefixHash = _entry[0].Kv.Pool.PrefixHash;
        foreach (var i in _instances) i.Start();
    }

    /// <summary>An instance's pool; it reads from <paramref name="disk"/> when the tier pays off on <paramref name="cores"/> cores.</summary>
    internal static KvBlockPool NewPool(ServingOptions o, LanguageModel model, KvDiskTier? disk, int cores)
    {
        var pool = o.KvBlocksPerInstance is { } blocks
            ? new KvBlockPool(model.Config, blocks, o.BlockSize, o.KvElementType)
            : KvBlockPool.FromBudget(model.Config, o.KvBytesPerInstance, o.BlockSize, o.KvElementType);
        if (o.PrefixCaching) pool.EnablePrefixCaching(model.Fingerprint); // the hash chain is keyed by the weights
        if (disk is not null && disk.UseFor(cores)) pool.DiskTier = disk.Store;
        return pool;
    }

    /// <summary>Core sets per instance, in instance order (entry instances first, then decode).</summary>
    private List<IReadOnlyList<int>> AssignCores(ServingOptions o) => AssignCores(o, o.InstanceCount, Warn);

    /// <summary>Core sets for <paramref name="n"/> instances: the explicit lists, or the allowed cores split evenly.</summary>
    internal static List<IReadOnlyList<int>> AssignCores(ServingOptions o, int n, Action<string> warn)
    {
        if (o.InstanceCores != null) return [.. o.InstanceCores];
        var available = CpuAffinity.AvailableCores();
        int per = o.CoresPerInstance ?? Math.Max(1, available.Count / n);
        if (per * n > available.Count)
            warn($"{n} instances × {per} cores need {per * n} cores but {available.Count} are available: instances share cores");
        var result = new List<IReadOnlyList<int>>(n);
        for (int i = 0; i < n; i++)
            result.Add(Enumerable.Range(i * per, per).Select(k => available[k % available.Count]).ToArray());
        return result;
    }

    /// <summary>Seconds since the runtime started, on its TimeProvider: the clock of every timeline.</summary>
    public double Now => _time.GetElapsedTime(_startTimestamp).TotalSeconds;

    IServingTrace? IInstanceHost.Trace => Options.Trace;
    int IInstanceHost.StepLogCapacity => Options.StepLogCapacity;
    int IInstanceHost.InstanceNice => Options.InstanceNice;

    /// <summary>
    /// Every instance's recent steps (empty unless <see cref="ServingOptions.StepLogCapacity"/> is set), for a step log
    /// file or <c>Tandem.Bench steps --replay</c>.
    /// </summary>
    public IReadOnlyList<Diagnostics.StepLog> StepLogs => _instances.Where(i => i.StepLog is not null).Select(i => i.StepLog!).ToArray();
    void IInstanceHost.Warn(string message) => Warn(message);
    void IInstanceHost.RouteToDecode(Request request) => RouteToDecode(request);
    void IInstanceHost.Resubmit(Request request) => Resubmit(request);

    internal void Warn(string message)
    {
        lock (_warned)
            if (!_warned.Add(message)) return;
        _warn(message);
    }

    public RequestHandle Submit(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        RequestAdmission.Validate(request, Config.VocabSize, MaxContext, _maxRequestBlocks, _blockSize);
        int vocab = Config.VocabSize;
        var prompt = request.PromptTokens;

        RequestStream stream;
        try
        {
            stream = new RequestStream(request, Tokenizer, vocab);
        }
        catch (ArgumentException e)
        {
            throw new RequestRejectedException(e.Message);
        }
        double now = Now;
        var r = new Request(request.Id, prompt, request.MaxTokens, Interlocked.Increment(ref _arrivals), now) { Stream = stream };
        var handle = new RequestHandle(request.Id, stream.Reader, stream.Completion, () => Cancel(r));
        if (request.MaxTokens == 0)
        {
            stream.Finish(r, FinishReason.Length, now);
            return handle;
        }
        // Every decode loop dead: a prompt prefilled now could never be decoded (503 until a restart, as /health says).
        if (_decode.Count > 0 && _decode.TrueForAll(i => i.Failure is not null))
            throw new RequestRejectedException(NoLiveInstance(_decode), "instance_failed") { IsTemporary = true };
        r.Timeline.PrefillQueued = now;
        (PickLocalPrefill(r) ?? PickEntryInstance(r)).Post(InstanceMessageKind.Submit, r);
        return handle;
    }

    private static void Cancel(Request r)
    {
        r.RequestCancel();
        r.Owner?.NotifyCancel();
    }

    /// <summary>
    /// The prefill (or colocated) instance for a prompt, by <see cref="ServingOptions.Routing"/>, among those whose loop
    /// runs. None left: the request is refused as temporary (503).
    /// </summary>
    private ServingInstance PickEntryInstance(Request r)
    {
        var candidates = _entry;
        if (_entry.Exists(i => i.Failure is not null))
        {
            candidates = _entry.Where(i => i.Failure is null).ToList();
            if (candidates.Count == 0)
                throw new RequestRejectedException(NoLiveInstance(_entry), "instance_failed") { IsTemporary = true };
        }
        if (candidates.Count == 1) return candidates[0];
        if (Options.Routing == EntryRouting.RoundRobin) return candidates[(int)((uint)Interlocked.Increment(ref _roundRobin) % (uint)candidates.Count)];
        if (Options.Routing == EntryRouting.LeastLoaded || _prefixHash is null) return candidates[DispatchPolicy.PickEntry(candidates)];
        Span<int> cached = candidates.Count <= 64 ? stackalloc int[candidates.Count] : new int[candidates.Count];
        CachedPrefixes(r, candidates, cached);
        return candidates[DispatchPolicy.PickEntryCacheAware(candidates, r.NumTokensToCompute, cached, Options.CacheOverlapWeight)];
    }

    /// <summary>
    /// Conditional disaggregation, by <see cref="DispatchPolicy.PickLocalPrefill"/> (the simulator's rule too): the decode
    /// instance holding the longest cached prefix of the prompt (then the most free KV) when the rest is at most
    /// <see cref="ServingOptions.LocalPrefillThreshold"/> tokens or every prefill instance is busy
    /// (<see cref="ServingOptions.PrefillBusyTokens"/> queued); null: the prompt goes to prefill.
    /// </summary>
    private ServingInstance? PickLocalPrefill(Request r)
    {
        if (_decode.Count == 0 || Options.LocalPrefillThreshold == 0) return null;
        var decode = _decode.Exists(i => i.Failure is not null) ? _decode.Where(i => i.Failure is null).ToList() : _decode;
        if (decode.Count == 0) return null;
        Span<int> cached = decode.Count <= 64 ? stackalloc int[decode.Count] : new int[decode.Count];
        CachedPrefixes(r, decode, cached);
        int pick = DispatchPolicy.PickLocalPrefill(decode, cached, r.NumTokens, _entry, Options.LocalPrefillThreshold, Options.PrefillBusyTokens);
        return pick < 0 ? null : decode[pick];
    }

    /// <summary>Tokens of <paramref name="r"/>'s prompt each instance holds cached, from the blocks they report.</summary>
    private void CachedPrefixes<T>(Request r, List<T> instances, Span<int> cached) where T : ServingInstance
    {
        if (_prefixHash is not { } hash) { cached.Clear(); return; }
        CachedBlockDirectory.CachedTokens(hash, CollectionsMarshal.AsSpan(r.AllTokenIdList), instances, static i => i.CachedBlocks, cached);
    }

    private static string NoLiveInstance(IEnumerable<ServingInstance> instances) =>
        "no instance can take the request: " + string.Join("; ", instances.Select(i => $"{i.Name} {i.Failure}")) + " (GET /health shows it; restart the server)";

    /// <summary>A prefilled request goes to the live decode instance with the most free KV capacity (it pulls when it has room).</summary>
    internal void RouteToDecode(Request r)
    {
        var pick = _decode[DispatchPolicy.PickDecode(_decode)];
        if (pick.Failure is not null)
        {
            var live = _decode.Where(i => i.Failure is null).ToList();
            if (live.Count == 0)
            {
                r.Migration?.Release();
                r.Migration = null;
                r.Stream?.Fail(r, new RequestRejectedException(NoLiveInstance(_decode), "instance_failed") { IsTemporary = true }, Now);
                return;
            }
            pick = live[DispatchPolicy.PickDecode(live)];
        }
        pick.Post(InstanceMessageKind.Migrate, r);
    }

    /// <summary>A request preempted on a decode instance is prefilled again (prompt + its output so far).</summary>
    internal void Resubmit(Request r)
    {
        try
        {
            PickEntryInstance(r).Post(InstanceMessageKind.Submit, r);
        }
        catch (RequestRejectedException e)
        {
            r.Stream?.Fail(r, e, Now);
        }
    }

    /// <summary>Test hook: runs <paramref name="fault"/> at the top of every iteration of instance <paramref name="instance"/>'s loop (throw: it dies; block: it stalls).</summary>
    internal void InjectLoopFault(string instance, Action? fault)
    {
        var target = _instances.Single(i => i.Name == instance);
        target.FaultInjection = fault;
        target.Wake();
    }

    public ServingSnapshot Snapshot() => new() { Instances = _instances.Select(i => i.Snapshot()).ToArray(), KvDisk = _disk?.Store.Stats() };

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        foreach (var i in _instances) i.Stop();
        await Task.Run(() =>
        {
            foreach (var i in _instances) i.Join();
        }).ConfigureAwait(false);
        foreach (var i in _instances) i.CancelAllAtShutdown();
        if (_disk is not null)
            await Task.Run(() =>
            {
                // What the pools still cache goes to disk too, so that a restart finds it (the writer drains on dispose).
                foreach (var i in _instances) i.Kv.Pool.SpillCachedToDisk();
                _disk.Dispose();
            }).ConfigureAwait(false);
        foreach (var i in _instances) i.Dispose();
        if (_ownsModel) _model.Dispose();
    }
}
