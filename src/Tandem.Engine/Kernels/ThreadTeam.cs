using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Tandem.Engine.Kernels;

/// <summary>
/// A fixed team of worker threads that run one <see cref="IParallelJob"/> at a time together with the
/// calling thread, handing out items in chunks from a shared counter (dynamic, so a core taken by
/// another process slows the step less than a static split would).
/// Workers spin for a short while (<see cref="SpinMicroseconds"/>) before they block: a decode step issues
/// a few hundred jobs of tens of microseconds, and an OS wake-up per job would cost as much as the job.
/// </summary>
public sealed class ThreadTeam : IDisposable
{
    private readonly Thread[] _workers;
    private readonly SemaphoreSlim[] _wake;
    private readonly int[] _sleeping;
    private readonly long _spinTicks;
    private IParallelJob? _job;
    private int _itemCount;
    private int _grain;
    private int _next;
    private int _pending;
    private int _generation;
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
        _job = job;
        _itemCount = itemCount;
        _grain = grain;
        _failure = null;
        _next = 0;
        _pending = _workers.Length;
        Interlocked.Increment(ref _generation); // publishes the fields above (full fence)
        for (int i = 0; i < _workers.Length; i++)
            if (Interlocked.Exchange(ref _sleeping[i], 0) == 1) _wake[i].Release();

        try
        {
            Work(0);
        }
        catch (Exception e)
        {
            _failure = e;
        }

        var spin = new SpinWait();
        while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
        _job = null;
        if (_failure is { } f) throw new AggregateException("a parallel job failed", f);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Work(int worker)
    {
        var job = _job!;
        int n = _itemCount, g = _grain;
        while (true)
        {
            int begin = Interlocked.Add(ref _next, g) - g;
            if (begin >= n) break;
            job.Execute(begin, Math.Min(n, begin + g), worker);
        }
    }

    private void WorkerLoop(int worker)
    {
        int w = worker - 1, seen = 0;
        while (true)
        {
            WaitForJob(w, seen);
            seen = Volatile.Read(ref _generation);
            if (_disposed) return;
            try
            {
                Work(worker);
            }
            catch (Exception e)
            {
                _failure = e;
            }
            Interlocked.Decrement(ref _pending);
        }
    }

    private void WaitForJob(int w, int seen)
    {
        long until = Stopwatch.GetTimestamp() + _spinTicks;
        while (Volatile.Read(ref _generation) == seen)
        {
            if (Stopwatch.GetTimestamp() < until)
            {
                Thread.SpinWait(16);
                continue;
            }
            // Announce sleep, then re-check: the publisher bumps the generation before it looks at
            // _sleeping, and both sides use full fences, so one of us always sees the other.
            Interlocked.Exchange(ref _sleeping[w], 1);
            if (Volatile.Read(ref _generation) != seen || _disposed)
            {
                if (Interlocked.Exchange(ref _sleeping[w], 0) == 0) _wake[w].Wait(); // a release is on its way: consume it
                return;
            }
            _wake[w].Wait();
            return;
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Interlocked.Increment(ref _generation);
        for (int i = 0; i < _workers.Length; i++)
            if (Interlocked.Exchange(ref _sleeping[i], 0) == 1) _wake[i].Release();
        foreach (var t in _workers) t.Join();
        foreach (var s in _wake) s.Dispose();
    }
}
