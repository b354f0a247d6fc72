using System.Diagnostics;
using Tandem.Engine.Kernels;
using Tandem.Serving.Instances;
using Xunit.Abstractions;

namespace Tandem.Engine.Tests.Contention;

/// <summary>
/// The thread team under CPU contention, with pinned workers and jobs whose item count and grain change
/// from one Run to the next: every item of every job runs exactly once, inside its own Run, never after
/// Run returned. Before the fix, a worker descheduled between reading the claim word and the job's fields
/// claimed items of the next job on the previous generation, ran some twice and made Run return early.
/// </summary>
public class ThreadTeamContentionTests(ITestOutputHelper output)
{
    /// <summary>Records every execution; anything outside the job's own Run is a violation.</summary>
    private sealed class TracedJob(int items) : IParallelJob
    {
        public readonly int[] Hits = new int[items];
        public volatile bool Returned;
        public int[] HitsAtReturn = [];
        public int LateOrOutOfRange;

        public void Execute(int begin, int end, int worker)
        {
            if (Returned || begin < 0 || end > Hits.Length || begin >= end) Interlocked.Increment(ref LateOrOutOfRange);
            for (int i = Math.Max(0, begin); i < Math.Min(end, Hits.Length); i++) Interlocked.Increment(ref Hits[i]);
        }
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(3, 2)]
    [InlineData(6, 3)]
    public void EveryItemOfEveryJobRunsOnceBeforeRunReturns(int teamSize, int seed)
    {
        var cores = CpuAffinity.AvailableCores();
        using var busy = new BusyThreads(BusyThreads.Cores, wakers: BusyThreads.Cores);
        using var team = new ThreadTeam(teamSize, w => CpuAffinity.TryPinCurrentThread(cores[w % cores.Count]));
        var rng = new Random(seed);
        var jobs = new List<TracedJob>();
        var clock = Stopwatch.StartNew();
        int runs = 0, badRuns = 0;
        string? firstBad = null;
        // Bounded in time and in runs: each run is a few microseconds, so this is tens of thousands of jobs.
        var batch = new (TracedJob Job, int Grain)[16];
        while (clock.Elapsed < BusyThreads.TestDuration(5))
        {
            // Several jobs back to back, as a forward pass issues them: the next Run publishes its job while
            // workers are still leaving the previous one, which is where the race lived.
            for (int j = 0; j < batch.Length; j++)
                batch[j] = (new TracedJob(rng.Next(2, 64)), rng.Next(1, 8));
            foreach (var (job, grain) in batch)
            {
                team.Run(job, job.Hits.Length, grain);
                // Read at once: an item not yet run here means Run returned before the work was done.
                job.Returned = true;
                job.HitsAtReturn = job.Hits.ToArray();
            }
            foreach (var (job, grain) in batch)
            {
                int missing = job.HitsAtReturn.Count(h => h == 0), twice = job.Hits.Count(h => h > 1);
                if (missing + twice + job.LateOrOutOfRange > 0)
                {
                    badRuns++;
                    firstBad ??= $"run {runs} ({job.Hits.Length} items, grain {grain}): {missing} missing when Run returned, {twice} run twice, {job.LateOrOutOfRange} late or out of range";
                }
                jobs.Add(job);
                if (jobs.Count > 64) jobs.RemoveAt(0);
                runs++;
            }
        }
        Thread.Sleep(20); // let any straggler that still holds an old job run into its Returned check
        int late = jobs.Sum(j => j.LateOrOutOfRange);
        output.WriteLine($"{runs} runs in {clock.Elapsed.TotalSeconds:F1} s, team of {teamSize} beside {BusyThreads.Cores} busy threads: {badRuns} bad runs, {late} late executions in the last 64 jobs");
        Assert.True(badRuns == 0 && late == 0, $"{badRuns} of {runs} runs broke exactly-once; first: {firstBad}; {late} late executions");
    }
}
