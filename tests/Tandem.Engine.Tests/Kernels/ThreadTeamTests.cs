using Tandem.Engine.Kernels;

namespace Tandem.Engine.Tests.Kernels;

public class ThreadTeamTests
{
    /// <summary>Counts how often each item runs and which team members ran any.</summary>
    private sealed class CountingJob(int items) : IParallelJob
    {
        public readonly int[] Hits = new int[items];
        public readonly int[] Workers = new int[8];

        public void Execute(int begin, int end, int worker)
        {
            for (int i = begin; i < end; i++) Interlocked.Increment(ref Hits[i]);
            Interlocked.Increment(ref Workers[worker]);
        }
    }

    [Theory]
    [InlineData(1, 1000, 7)]
    [InlineData(2, 1, 1)]
    [InlineData(2, 1000, 1)]
    [InlineData(3, 12345, 64)]
    [InlineData(4, 100, 1000)]
    public void EveryItemRunsExactlyOnce(int size, int items, int grain)
    {
        using var team = new ThreadTeam(size);
        for (int round = 0; round < 200; round++) // many back-to-back jobs: generations must not mix
        {
            var job = new CountingJob(items);
            team.Run(job, items, grain);
            Assert.All(job.Hits, h => Assert.Equal(1, h));
        }
    }

    /// <summary>The caller's items wait (bounded) until the worker has run one: the job cannot finish without it.</summary>
    private sealed class NeedsTheWorkerJob(int items) : IParallelJob
    {
        public readonly int[] Hits = new int[items];
        public int WorkerItems;

        public void Execute(int begin, int end, int worker)
        {
            if (worker != 0) Interlocked.Add(ref WorkerItems, end - begin);
            else SpinWait.SpinUntil(() => Volatile.Read(ref WorkerItems) > 0, TimeSpan.FromSeconds(10));
            for (int i = begin; i < end; i++) Interlocked.Increment(ref Hits[i]);
        }
    }

    [Fact]
    public void WorkersThatSleptBetweenJobsStillHelp()
    {
        using var team = new ThreadTeam(2);
        for (int round = 0; round < 3; round++)
        {
            var job = new NeedsTheWorkerJob(1000);
            Thread.Sleep(5); // longer than the spin: the worker is asleep when the job is published
            team.Run(job, job.Hits.Length, 1);
            Assert.All(job.Hits, h => Assert.Equal(1, h));
            Assert.True(job.WorkerItems > 0, $"round {round}: the sleeping worker was not woken to help");
        }
    }

    [Fact]
    public void EachWorkerStartsOnceWithItsIndex()
    {
        var started = new System.Collections.Concurrent.ConcurrentBag<int>();
        using (var team = new ThreadTeam(4, started.Add))
        {
            var job = new CountingJob(100);
            team.Run(job, 100, 1);
            SpinWait.SpinUntil(() => started.Count == 3, TimeSpan.FromSeconds(10));
        }
        Assert.Equal([1, 2, 3], started.Order());
    }

    private sealed class FailingJob : IParallelJob
    {
        public void Execute(int begin, int end, int worker)
        {
            if (begin <= 500 && 500 < end) throw new InvalidOperationException("item 500 failed");
        }
    }

    [Fact]
    public void AFailureSurfacesAndTheTeamKeepsWorking()
    {
        using var team = new ThreadTeam(2);
        var e = Assert.Throws<AggregateException>(() => team.Run(new FailingJob(), 1000, 10));
        Assert.Contains("item 500 failed", e.InnerException!.Message);
        var job = new CountingJob(1000);
        team.Run(job, 1000, 10);
        Assert.All(job.Hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void DisposeStopsTheWorkers()
    {
        var team = new ThreadTeam(3);
        team.Run(new CountingJob(10), 10, 1);
        team.Dispose();
        Assert.Throws<ObjectDisposedException>(() => team.Run(new CountingJob(10), 10, 1));
    }

    /// <summary>Records, in every chunk, the item the team says a claim would get next.</summary>
    private sealed class PeekingJob(ThreadTeam team, int items) : IParallelJob
    {
        public readonly int[] Hits = new int[items];
        public readonly System.Collections.Concurrent.ConcurrentBag<(int End, int Peeked)> Peeks = [];

        public void Execute(int begin, int end, int worker)
        {
            for (int i = begin; i < end; i++) Interlocked.Increment(ref Hits[i]);
            Peeks.Add((end, team.PeekNextItem()));
        }
    }

    [Theory]
    [InlineData(2, 1000, 10)]
    [InlineData(3, 997, 64)]
    public void PeekNextItemIsAnUnclaimedChunkStartOrNone(int size, int items, int grain)
    {
        using var team = new ThreadTeam(size);
        Assert.Equal(-1, team.PeekNextItem()); // nothing has run
        for (int round = 0; round < 50; round++)
        {
            var job = new PeekingJob(team, items);
            team.Run(job, items, grain);
            Assert.All(job.Hits, h => Assert.Equal(1, h));
            // Claims only move forward, so past the chunk being run, on a chunk boundary, inside the job; or none left.
            Assert.All(job.Peeks, p => Assert.True(p.Peeked == -1 || (p.Peeked >= p.End && p.Peeked < items && p.Peeked % grain == 0),
                $"peeked {p.Peeked} in a chunk ending at {p.End}"));
            Assert.Contains(job.Peeks, p => p.Peeked >= 0);
            Assert.Equal(-1, team.PeekNextItem()); // done: every item claimed
        }
        // A job small enough to run on the caller alone leaves no claimable item behind.
        var small = new PeekingJob(team, 5);
        team.Run(small, 5, 10);
        Assert.Equal(-1, Assert.Single(small.Peeks).Peeked);
    }
}
