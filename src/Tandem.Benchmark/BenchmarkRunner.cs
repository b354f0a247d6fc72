using Tandem.Benchmark.Client;
using Tandem.Benchmark.Workloads;

namespace Tandem.Benchmark;

/// <summary>How far a run has got, for progress displays.</summary>
public readonly record struct RunProgress(int Total, int Sent, int Finished, int Failed);

/// <summary>The records of one run at one arrival pattern, in workload order, and how long the run took.</summary>
public sealed record RunResult(IReadOnlyList<RequestRecord> Records, double DurationSeconds);

/// <summary>
/// Plays a workload against a server: request i is released at its arrival time (open loop: arrivals do not wait
/// for answers), optionally held back until fewer than <c>maxConcurrency</c> requests are in flight. A later turn of
/// a conversation (<see cref="BenchRequest.After"/>) is released instead its think time after the turn before it
/// ended (closed loop within a conversation, as a user waits for the answer); its latencies count from then.
/// </summary>
public static class BenchmarkRunner
{
    public static async Task<RunResult> RunAsync(OpenAiStreamingClient client, IReadOnlyList<BenchRequest> requests,
        IReadOnlyList<double> arrivalTimes, int? maxConcurrency = null, IProgress<RunProgress>? progress = null, CancellationToken ct = default)
    {
        if (arrivalTimes.Count != requests.Count) throw new ArgumentException("one arrival time per request is needed");
        for (int i = 0; i < requests.Count; i++)
            if (requests[i].After is int after && (after < 0 || after >= i))
                throw new ArgumentException($"request {i} follows request {after}, which does not come before it");
        if (maxConcurrency is < 1) throw new ArgumentOutOfRangeException(nameof(maxConcurrency), $"--max-concurrency must be at least 1, got {maxConcurrency}");
        using var gate = maxConcurrency is int m ? new SemaphoreSlim(m, m) : null;
        var clock = new BenchClock();
        var tasks = new Task<RequestRecord>[requests.Count];
        int sent = 0, finished = 0, failed = 0;
        void Report() => progress?.Report(new RunProgress(requests.Count, Volatile.Read(ref sent), Volatile.Read(ref finished), Volatile.Read(ref failed)));

        async Task<RequestRecord> One(BenchRequest request, double scheduledAt)
        {
            if (gate is not null) await gate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                Interlocked.Increment(ref sent);
                var record = await client.SendAsync(request, clock, scheduledAt, ct).ConfigureAwait(false);
                if (!record.Success) Interlocked.Increment(ref failed);
                Interlocked.Increment(ref finished);
                Report();
                return record;
            }
            finally
            {
                gate?.Release();
            }
        }

        async Task<RequestRecord> FollowUp(BenchRequest request, Task<RequestRecord> previous)
        {
            var before = await previous.ConfigureAwait(false);
            double scheduledAt = before.EndAt + request.ThinkSeconds;
            await WaitUntil(scheduledAt).ConfigureAwait(false);
            return await One(request, scheduledAt).ConfigureAwait(false);
        }

        async Task<RequestRecord> Arrival(BenchRequest request, double scheduledAt)
        {
            await WaitUntil(scheduledAt).ConfigureAwait(false);
            return await One(request, scheduledAt).ConfigureAwait(false);
        }

        // Timers round to milliseconds and may fire a little early: wait again until the time has passed.
        async Task WaitUntil(double at)
        {
            double wait;
            while ((wait = at - clock.Now) > 0)
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling(wait * 1000)), ct).ConfigureAwait(false);
        }

        // Every request's wait starts now, each on its own timer: a conversation's next turn is released as soon as its
        // think time has passed, not once the loop has released every first turn before it (which bunched all later turns
        // of a multi-turn run after the last conversation had started, whatever the arrival rate).
        for (int i = 0; i < requests.Count; i++)
        {
            var request = requests[i];
            if (request.After is int after)
            {
                tasks[i] = FollowUp(request, tasks[after]);
                continue;
            }
            double scheduledAt = arrivalTimes[i];
            tasks[i] = Task.Run(() => Arrival(request, scheduledAt), ct);
        }
        var records = await Task.WhenAll(tasks).ConfigureAwait(false);
        Report();
        double duration = records.Length == 0 ? 0 : records.Max(r => r.EndAt);
        return new RunResult(records, duration);
    }
}
