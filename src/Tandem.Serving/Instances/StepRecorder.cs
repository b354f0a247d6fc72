using System.Diagnostics;
using Tandem.Serving.Diagnostics;
using Tandem.Serving.Scheduling;

namespace Tandem.Serving.Instances;

/// <summary>
/// Fills one <see cref="StepRecord"/> per step of an instance and appends it to the instance's <see cref="StepLog"/>. The
/// loop calls <see cref="Begin"/> at the top of a step, <see cref="Scheduled"/> just before the model runner,
/// <see cref="Executed"/> after it and <see cref="End"/> once the tokens are out; the model runner brackets the forward
/// pass with <see cref="ForwardStarting"/> and <see cref="ForwardEnded"/>. Iterations that ran no model leave no record
/// (their preemptions and pulls go into the next one). Loop thread only, except <see cref="AttachCurrentThread"/>; no
/// allocation after start.
/// </summary>
internal sealed class StepRecorder : IDisposable
{
    private readonly StepLog _log;
    private readonly Func<double> _now;
    // Run-queue clocks of the team's threads, index = worker (0: the loop); a worker fills its own slot when it starts.
    private readonly ThreadClock?[] _threads;
    private StepRecord _record;
    private long _begin, _forwardStart, _executeStart, _executeEnd, _lastEnd = -1;
    private long _cpuStart, _runQueueStart, _allocated;
    private int _gen0, _gen1, _gen2, _carriedPreempted, _carriedPulled, _carriedToPrefill;
    private TimeSpan _pause;

    public StepRecorder(StepLog log, Func<double> now)
    {
        _log = log;
        _now = now;
        _threads = new ThreadClock?[Math.Max(1, log.Threads)];
    }

    public StepLog Log => _log;

    /// <summary>Called on a team thread (or the loop, as 0) as it starts: its run-queue time counts from then on.</summary>
    public void AttachCurrentThread(int worker)
    {
        if ((uint)worker < (uint)_threads.Length) Volatile.Write(ref _threads[worker], ThreadClock.Open());
    }

    public void Begin()
    {
        _begin = Stopwatch.GetTimestamp();
        _record = default;
        _record.Start = _now();
        _allocated = GC.GetAllocatedBytesForCurrentThread();
        _gen0 = GC.CollectionCount(0);
        _gen1 = GC.CollectionCount(1);
        _gen2 = GC.CollectionCount(2);
        _pause = GC.GetTotalPauseDuration();
    }

    /// <summary>An iteration that preempted, pulled or handed prompts back but ran no model: its counts go into the next record.</summary>
    public void Carry(SchedulerOutput output)
    {
        _carriedPreempted += output.Preempted.Count;
        _carriedPulled += output.ToPull.Count;
        _carriedToPrefill += output.ToPrefill.Count;
    }

    /// <summary>The batch about to run (before the scheduler's update moves the requests' counts on).</summary>
    public void Scheduled(SchedulerOutput output)
    {
        foreach (var c in output.Scheduled)
        {
            var r = c.Request;
            if (SchedulerOutput.IsDecode(r, c.NumTokens))
            {
                _record.DecodeSequences++;
                _record.DecodeContext += r.NumComputedTokens;
            }
            else _record.AddChunk(new StepChunk(r.NumComputedTokens, c.NumTokens, c.SamplesToken));
            if (c.SamplesToken) _record.LogitRows++;
        }
        _record.CachedTokens = output.CachedTokens;
        _record.Preempted = output.Preempted.Count + _carriedPreempted;
        _record.Pulled = output.ToPull.Count + _carriedPulled;
        _record.ToPrefill = output.ToPrefill.Count + _carriedToPrefill;
        _carriedPreempted = _carriedPulled = _carriedToPrefill = 0;
        _executeStart = Stopwatch.GetTimestamp();
    }

    public void ForwardStarting()
    {
        _runQueueStart = RunQueueNanoseconds();
        _cpuStart = ThreadClock.CpuNanoseconds();
        _forwardStart = Stopwatch.GetTimestamp();
    }

    public void ForwardEnded()
    {
        long end = Stopwatch.GetTimestamp();
        long cpu = ThreadClock.CpuNanoseconds();
        long runQueue = RunQueueNanoseconds();
        _record.Forward = Seconds(_forwardStart, end);
        _record.ForwardCpu = cpu >= 0 && _cpuStart >= 0 ? (cpu - _cpuStart) * 1e-9 : double.NaN;
        _record.ForwardRunQueue = runQueue >= 0 && _runQueueStart >= 0 ? (runQueue - _runQueueStart) * 1e-9 : double.NaN;
    }

    public void Executed() => _executeEnd = Stopwatch.GetTimestamp();

    public void End()
    {
        long end = Stopwatch.GetTimestamp();
        _record.Gap = _lastEnd < 0 ? double.NaN : Seconds(_lastEnd, _begin);
        _record.Prepare = Seconds(_begin, _executeStart);
        _record.ForwardAt = _record.Start + Seconds(_begin, _forwardStart);
        _record.Execute = Seconds(_executeStart, _executeEnd);
        _record.Total = Seconds(_begin, end);
        _record.AllocatedBytes = GC.GetAllocatedBytesForCurrentThread() - _allocated;
        _record.Gen0Collections = GC.CollectionCount(0) - _gen0;
        _record.Gen1Collections = GC.CollectionCount(1) - _gen1;
        _record.Gen2Collections = GC.CollectionCount(2) - _gen2;
        _record.GcPause = (GC.GetTotalPauseDuration() - _pause).TotalSeconds;
        _lastEnd = end;
        _log.Add(ref _record);
    }

    /// <summary>Run-queue nanoseconds of every team thread that has a clock, summed (-1: none has).</summary>
    private long RunQueueNanoseconds()
    {
        long sum = 0;
        bool any = false;
        foreach (var clock in _threads)
        {
            if (clock is null) continue;
            long ns = clock.RunQueueNanoseconds();
            if (ns < 0) continue;
            sum += ns;
            any = true;
        }
        return any ? sum : -1;
    }

    private static double Seconds(long from, long to) => (to - from) / (double)Stopwatch.Frequency;

    public void Dispose()
    {
        foreach (var clock in _threads) clock?.Dispose();
    }
}
