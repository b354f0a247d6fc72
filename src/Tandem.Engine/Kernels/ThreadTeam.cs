using System.Diagnostics;

namespace Tandem.Engine.Kernels;

/// <summary>
/// A fixed team of worker threads that run one <see cref="IParallelJob"/> at a time together with the
/// calling thread. Items are claimed in chunks from one shared word holding (generation, next item), so:
/// <list type="bullet">
/// <item>the split is dynamic: a core taken by another process slows a step less than a static split;</item>
/// <item>the caller waits for the items to be <em>done</em>, not for every worker to check in: a worker
/// that is descheduled or asleep when a job starts simply finds nothing left to claim. A barrier-style
/// team (each worker must arrive) ran 3–8× slower on these 2-core machines whenever anything else ran.</item>
/// </list>
/// Workers spin for <see cref="SpinMicroseconds"/> before they block: a decode step issues a few hundred
/// jobs of tens of microseconds, and an OS wake-up per job would cost as much as the job.
/// <para>
/// <b>Why a claim can never touch the wrong job.</b> A claim is a compare-and-swap on the state word
/// (generation, next item), and the claimer reads the job's fields (<c>_job</c>, <c>_itemCount</c>,
/// <c>_grain</c>) between reading the word and swapping it. Those fields are rewritten only while the word
/// holds a <em>closed</em> generation (odd; its next item is past any count, so nothing is claimable):
/// <see cref="Run"/> first swaps in the closed generation, then writes the fields, then swaps in the new open
/// (even) generation. So a claimer that read fields of a newer job read them after the word changed away
/// from the value it holds, and its swap fails; a swap that succeeds proves the fields it read belong to the
/// generation it claimed. Without the closed step (before this fix) a worker that read the old word, then
/// the new job's count, could still swap on the old word: it ran items of the new job under the old
/// generation, some twice, added them to the done count and let <see cref="Run"/> return early. This showed
/// only when the publishing thread lost its core inside that window, i.e. under CPU contention.
/// </para>
/// </summary>
public sealed class ThreadTeam : IDisposable
{
    private readonly Thread[] _workers;
    private readonly SemaphoreSlim[] _wake;
    private readonly int[] _sleeping;
    private readonly long _spinTicks;

    // The current job; written by the caller only while the state holds a closed generation (see above).
    private IParallelJob? _job;
    private int _itemCount;
    private int _grain;
    // High 32 bits: generation (even: a job is open for claims; odd: closed while the next job's fields are
    // written); low 32 bits: next unclaimed item.
    private long _state;
    // The low half of a closed state: past any item count, so a claimer that reads it stops.
    private const long ClosedNext = int.MaxValue;
    private int _done;
    private volatile bool _disposed;
    private Exception? _failure;

    /// <summary>Total threads including the caller.</summary>
    public int Size { get; }

    public const int SpinMicroseconds = 300;

    /// <param name="size">Threads that work on each job, including the calling thread.</param>
    /// <param name="onWorkerStart">Called first on each worker thread with its index (1..size-1; the caller is 0),
    /// e.g. to pin it to a core.</param>
    public ThreadTeam(int size, Action<int>? onWorkerStart = null)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "a team needs at least one thread");
        Size = size;
        _spinTicks = Stopwatch.Frequency * SpinMicroseconds / 1_000_000;
        _workers = new Thread[size - 1];
        _wake = new SemaphoreSlim[size - 1];
        _sleeping = new int[size - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            _wake[i] = new SemaphoreSlim(0);
            int worker = i + 1;
            _workers[i] = new Thread(() => { onWorkerStart?.Invoke(worker); WorkerLoop(worker); }) { IsBackground = true, Name = $"tandem-worker-{worker}" };
            _workers[i].Start();
        }
    }

    /// <summary>
    /// Runs <paramref name="job"/> over <paramref name="itemCount"/> items in chunks of
    /// <paramref name="grain"/> and returns when every item is done. Not reentrant.
    /// </summary>
    public void Run(IParallelJob job, int itemCount, int grain = 1)
    {
        if (itemCount <= 0) return;
        grain = Math.Max(1, grain);
        if (Size == 1 || itemCount <= grain)
        {
            job.Execute(0, itemCount, 0);
            return;
        }
        ObjectDisposedException.ThrowIf(_disposed, this);
        // Close: from here until the open below, every claim on an earlier state word fails, so no worker can
        // pair the fields written next with an old generation. (Full fences on both swaps.)
        int open = (int)(Volatile.Read(ref _state) >> 32);
        Debug.Assert((open & 1) == 0, "Run is not reentrant");
        Interlocked.Exchange(ref _state, ((long)(open + 1) << 32) | ClosedNext);
        _job = job;
        _itemCount = itemCount;
        _grain = grain;
        _failure = null;
        Volatile.Write(ref _done, 0);
        int generation = open + 2;
        Interlocked.Exchange(ref _state, (long)generation << 32); // opens the job and publishes the fields above
        for (int i = 0; i < _workers.Length; i++)
            if (Interlocked.Exchange(ref _sleeping[i], 0) == 1) _wake[i].Release();

        Work(generation, 0);

        var spin = new SpinWait();
        while (Volatile.Read(ref _done) < itemCount) spin.SpinOnce(sleep1Threshold: -1);
        _job = null;
        if (_failure is { } f) throw new AggregateException("a parallel job failed", f);
    }

    /// <summary>
    /// The first item that a claim on the running job would get now, or -1 when none is left or no team job is open
    /// (a job run on the caller alone leaves the last team job's word, all of it claimed). A hint for prefetching
    /// (<see cref="NextChunkHint"/>), read without a claim: another member may take the item first.
    /// </summary>
    public int PeekNextItem()
    {
        long s = Volatile.Read(ref _state);
        int next = (int)s;
        return ((s >> 32) & 1) == 0 && next < _itemCount ? next : -1;
    }

    /// <summary>Claims and runs chunks of job <paramref name="generation"/> until none is left (or a newer job started).</summary>
    private void Work(int generation, int worker)
    {
        while (true)
        {
            long s = Volatile.Read(ref _state);
            if ((int)(s >> 32) != generation) return;
            int begin = (int)s, n = _itemCount, g = _grain;
            var job = _job;
            if (begin >= n) return;
            // Succeeds only if the word still holds s: then no close happened since it was read, so n, g and
            // job (read after s) are this generation's (see the class comment).
            if (Interlocked.CompareExchange(ref _state, s + g, s) != s) continue;
            int end = (int)Math.Min(n, (long)begin + g);
            try
            {
                job!.Execute(begin, end, worker);
            }
            catch (Exception e)
            {
                _failure = e;
            }
            Interlocked.Add(ref _done, end - begin);
        }
    }

    private void WorkerLoop(int worker)
    {
        int w = worker - 1, seen = 0;
        while (true)
        {
            seen = WaitForJob(w, seen);
            if (_disposed) return;
            Work(seen, worker);
        }
    }

    /// <summary>
    /// Waits until an open job newer than <paramref name="seen"/> is published; returns its generation. A closed
    /// generation means the caller is writing the next job: keep waiting for the open that follows it.
    /// </summary>
    private int WaitForJob(int w, int seen)
    {
        long until = Stopwatch.GetTimestamp() + _spinTicks;
        while (true)
        {
            int generation = (int)(Volatile.Read(ref _state) >> 32);
            if (IsNewOpen(generation, seen) || _disposed) return generation;
            if (Stopwatch.GetTimestamp() < until)
            {
                Thread.SpinWait(16);
                continue;
            }
            // Announce sleep, then re-check: the publisher opens the generation before it looks at
            // _sleeping, and both sides use full fences, so one of us always sees the other.
            Interlocked.Exchange(ref _sleeping[w], 1);
            generation = (int)(Volatile.Read(ref _state) >> 32);
            if (IsNewOpen(generation, seen) || _disposed)
            {
                if (Interlocked.Exchange(ref _sleeping[w], 0) == 0) _wake[w].Wait(); // a release is on its way: consume it
                return generation;
            }
            _wake[w].Wait();
            until = Stopwatch.GetTimestamp() + _spinTicks;
        }
    }

    private static bool IsNewOpen(int generation, int seen) => generation != seen && (generation & 1) == 0;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Interlocked.Add(ref _state, 2L << 32); // a new open generation with nothing to claim: wakes spinning workers
        for (int i = 0; i < _workers.Length; i++)
            if (Interlocked.Exchange(ref _sleeping[i], 0) == 1) _wake[i].Release();
        foreach (var t in _workers) t.Join();
        foreach (var s in _wake) s.Dispose();
    }
}
