using Tandem.Engine.KvCache;
using Tandem.Engine.Sampling;

namespace Tandem.Serving.Workers;

/// <summary>
/// A prompt's KV while its chunked prefill computes it, for a pull that overlaps the prefill (the frontend's
/// <c>--kv-overlap</c>): the prefill loop says when the prompt starts (its blocks are allocated: the whole prompt at
/// admission) and, after every step, how many tokens' KV is final (positions below the request's computed count are
/// never written again), so a puller on another thread streams each block as soon as it is final while later chunks
/// are computed. When the prompt is done the loop hands over the token it sampled after it (the decode side takes it
/// before decoding), and the KV is held as any other (its pull guard and lease). A request that leaves the loop
/// without held KV (cancelled, failed, finished at its first token) is ended before its blocks are freed: a puller
/// copies blocks only under the gate, so it never reads blocks freed (and maybe reused) meanwhile.
/// </summary>
public sealed class PrefillKvProgress
{
    private readonly object _gate = new();
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private KvSequence? _sequence;
    private int _ready;
    private bool _ended;
    private PrefilledToken? _next;

    public PrefillKvProgress(string id, int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        Id = id;
        Tokens = tokens;
    }

    /// <summary>The id the KV is announced (and later held) under.</summary>
    public string Id { get; }

    /// <summary>Tokens the KV will hold: the whole prompt.</summary>
    public int Tokens { get; }

    /// <summary>Completes when the prefill starts (its blocks are allocated); cancelled when it ends without KV first.</summary>
    public Task Started => _started.Task;

    /// <summary>The prefill loop scheduled the request's first chunk: its sequence, holding the prompt's blocks.</summary>
    internal void Start(KvSequence sequence, int computed)
    {
        lock (_gate)
        {
            if (_sequence != null || _ended) return;
            _sequence = sequence;
            _ready = computed; // a cached prefix is final already
            Signal();
        }
        _started.TrySetResult();
    }

    /// <summary>A step ended: the KV of the first <paramref name="computed"/> tokens is final.</summary>
    internal void Publish(int computed)
    {
        lock (_gate)
        {
            if (_ended || computed <= _ready) return;
            _ready = computed;
            Signal();
        }
    }

    /// <summary>The prompt is done and its KV held; <paramref name="next"/> is the token sampled after it.</summary>
    internal void Hold(PrefilledToken next)
    {
        lock (_gate)
        {
            _ready = Tokens;
            _next = next;
            Signal();
        }
    }

    /// <summary>The request leaves the prefill loop without held KV; called before its blocks are freed.</summary>
    internal void End()
    {
        lock (_gate)
        {
            if (_next != null) return; // held: the held KV's guard and lease own it now
            _ended = true;
            _sequence = null;
            Signal();
        }
        _started.TrySetCanceled();
    }

    private void Signal()
    {
        var old = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        old.TrySetResult();
    }

    /// <summary>Waits until the KV of the first <paramref name="tokens"/> tokens is final; false when the prefill ended without KV.</summary>
    public async Task<bool> WaitForTokensAsync(int tokens, CancellationToken cancellation)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_ended) return false;
                if (_sequence != null && _ready >= Math.Min(tokens, Tokens)) return true;
                changed = _changed.Task;
            }
            await changed.WaitAsync(cancellation).ConfigureAwait(false);
        }
    }

    /// <summary>Waits for the prompt to be done; its next token, or null when the prefill ended without KV.</summary>
    public async Task<PrefilledToken?> WaitForHoldAsync(CancellationToken cancellation)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_next != null) return _next;
                if (_ended) return null;
                changed = _changed.Task;
            }
            await changed.WaitAsync(cancellation).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs <paramref name="copy"/> over the sequence under the gate, so the loop cannot free the blocks meanwhile; false
    /// (nothing run) when the prefill ended without KV. Copy only tokens <see cref="WaitForTokensAsync"/> said are final.
    /// <paramref name="early"/>: the prompt was not done yet (the copy overlapped its prefill).
    /// </summary>
    public bool TryCopy(Action<KvSequence> copy, out bool early)
    {
        lock (_gate)
        {
            early = _next == null;
            if (_ended || _sequence == null) return false;
            copy(_sequence);
            return true;
        }
    }
}

/// <summary>
/// The token a prefill sampled after the prompt, sent with overlapped KV: the decode side takes it as its first output
/// token (the frontend already streamed it) and continues the random stream from <see cref="RandomState"/> (null: greedy).
/// </summary>
public sealed record PrefilledToken(int TokenId, Xoshiro256StarStar? RandomState);
