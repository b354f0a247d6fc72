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
            double scheduledAt = Math.Max(before.EndAt, clock.Now) + request.ThinkSeconds;
            double wait;
            while ((wait = scheduledAt - clock.Now) > 0)
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling(wait * 1000)), ct).ConfigureAwait(false);
            return await One(request, scheduledAt).ConfigureAwait(false);
        }

        for (int i = 0; i < requests.Count; i++)
        {
            if (requests[i].After is int after)
            {
                if (after < 0 || after >= i) throw new ArgumentException($"request {i} follows request {after}, which does not come before it");
                tasks[i] = FollowUp(requests[i], tasks[after]);
                continue;
            }
            // Timers round to milliseconds and may fire a little early: wait again until the arrival time has passed.
            double wait;
            while ((wait = arrivalTimes[i] - clock.Now) > 0)
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling(wait * 1000)), ct).ConfigureAwait(false);
            var request = requests[i];
            double scheduledAt = arrivalTimes[i];
            tasks[i] = Task.Run(() => One(request, scheduledAt), ct);
        }
        var records = await Task.WhenAll(tasks).ConfigureAwait(false);
        Report();
        double duration = records.Length == 0 ? 0 : records.Max(r => r.EndAt);
        return new RunResult(records, duration);
    }
}
