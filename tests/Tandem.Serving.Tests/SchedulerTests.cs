using Tandem.Serving.Scheduling;

namespace Tandem.Serving.Tests;

/// <summary>
/// The schedulers alone, on counted blocks and a clock value passed in (no threads, no model): what a
/// simulator will drive. Tokens "sampled" here are made up; only the bookkeeping matters.
/// </summary>
public class SchedulerTests
{
    private long _order;
    private double _now;

    private Request NewRequest(int promptTokens, int maxTokens = 100) =>
        new($"r{_order}", Enumerable.Repeat(5, promptTokens).ToArray(), maxTokens, ++_order, _now);

    /// <summary>What the runtime does after a step: every chunk that reaches the end samples a token.</summary>
    private static void AppendSampled(SchedulerOutput o, List<Request> sampled)
    {
        foreach (var r in sampled) r.AppendOutputToken(7);
    }

    private static List<Request> Sampling(SchedulerOutput o) => o.Scheduled.Where(c => c.SamplesToken).Select(c => c.Request).ToList();

    [Fact]
    public void PrefillBatchesRespectTheTokenTargetFcfs()
    {
        var kv = new CountingKvCacheManager(totalBlocks: 1000, blockSize: 16);
        var s = new PrefillScheduler(kv, tokenTarget: 512);
        var rs = new[] { NewRequest(200), NewRequest(200), NewRequest(200), NewRequest(900), NewRequest(10) };
        foreach (var r in rs) s.AddRequest(r);
        Assert.Equal(1510, s.WaitingTokens);

        var steps = new List<(string, int)[]>();
        while (true)
        {
            _now += 1;
            var o = s.Schedule(_now);
            if (o.Scheduled.Count == 0) break;
            Assert.True(o.TotalTokens <= 512);
            Assert.Equal(_now, o.Now);
            steps.Add(o.Scheduled.Select(c => (c.Request.RequestId, c.NumTokens)).ToArray());
            var sampled = Sampling(o);
            s.UpdateFromOutput(o);
            AppendSampled(o, sampled);
        }
        // FCFS, filled to the target; the long prompt continues in chunks before later arrivals.
        Assert.Equal([("r0", 200), ("r1", 200), ("r2", 112)], steps[0]);
        Assert.Equal([("r2", 88), ("r3", 424)], steps[1]);
        Assert.Equal([("r3", 476), ("r4", 10)], steps[2]);
        Assert.Equal(3, steps.Count);
        Assert.Equal(5, s.NumHeld);
        Assert.All(rs, r => Assert.Equal(RequestStatus.WaitingForMigration, r.Status));
        Assert.All(rs, r => Assert.Equal(r.NumPromptTokens, r.NumComputedTokens));
        foreach (var r in rs) s.ReleaseHeld(r);
        Assert.Equal(1000, kv.FreeBlocks);
    }

    [Fact]
    public void PrefillStopsAdmittingWhileHeldKvFillsThePool()
    {
        var kv = new CountingKvCacheManager(totalBlocks: 10, blockSize: 16);
        var s = new PrefillScheduler(kv, tokenTarget: 512);
        var a = NewRequest(100); // 7 blocks
        var b = NewRequest(60);  // 4 blocks: does not fit beside a
        s.AddRequest(a);
        s.AddRequest(b);
        var o = s.Schedule(0);
        Assert.Equal([a], o.Scheduled.Select(c => c.Request));
        s.UpdateFromOutput(o);
        Assert.Empty(s.Schedule(1).Scheduled); // a's KV is held for migration: the pool is the buffer
        Assert.Equal(1, s.NumWaiting);
        s.ReleaseHeld(a);                       // a decode instance pulled it
        Assert.Equal([b], s.Schedule(2).Scheduled.Select(c => c.Request));
    }

    [Fact]
    public void ChunkedStepsPutDecodesFirstAndFillTheBudgetWithPromptChunks()
    {
        var kv = new CountingKvCacheManager(totalBlocks: 1000, blockSize: 16);
        var s = new ColocatedScheduler(kv, ColocatedPolicy.Chunked, tokenBudget: 64, maxNumSeqs: 16, watermarkBlocks: 0);
        var decoders = new[] { NewRequest(10), NewRequest(20), NewRequest(30) };
        foreach (var r in decoders) s.AddRequest(r);
        var o = s.Schedule(0);
        Assert.Equal(60, o.TotalTokens);
        var sampled = Sampling(o);
        s.UpdateFromOutput(o);
        AppendSampled(o, sampled);

        var longPrompt = NewRequest(1000);
        s.AddRequest(longPrompt);
        for (int step = 0; step < 5; step++)
        {
            o = s.Schedule(step + 1);
            Assert.Equal(64, o.TotalTokens);
            Assert.Equal(decoders, o.Scheduled.Take(3).Select(c => c.Request));   // decodes first
            Assert.All(o.Scheduled.Take(3), c => Assert.Equal(1, c.NumTokens));
            Assert.Equal(longPrompt, o.Scheduled[3].Request);                      // the prompt fills the rest
            Assert.Equal(61, o.Scheduled[3].NumTokens);
            Assert.Equal(3, o.DecodeTokens);
            Assert.Equal(61, o.PrefillTokens);
            sampled = Sampling(o);
            s.UpdateFromOutput(o);
            AppendSampled(o, sampled);
        }
        Assert.Equal(5 * 61, longPrompt.NumComputedTokens);
    }

    [Fact]
    public void PrefillFirstRunsPromptsAloneThenDecodes()
    {
        var kv = new CountingKvCacheManager(totalBlocks: 1000, blockSize: 16);
        var s = new ColocatedScheduler(kv, ColocatedPolicy.PrefillFirst, tokenBudget: 512, maxNumSeqs: 16, watermarkBlocks: 0);
        var a = NewRequest(50);
        s.AddRequest(a);
        var o = s.Schedule(0);
        Assert.Equal(50, o.PrefillTokens);
        var sampled = Sampling(o);
        s.UpdateFromOutput(o);
        AppendSampled(o, sampled);

        var b = NewRequest(40);
        s.AddRequest(b);
        o = s.Schedule(1);                               // b waits: a prompt-only step
        Assert.Equal([(b, 40)], o.Scheduled.Select(c => (c.Request, c.NumTokens)));
        sampled = Sampling(o);
        s.UpdateFromOutput(o);
        AppendSampled(o, sampled);
        o = s.Schedule(2);                               // nothing waits: a decode step over both
        Assert.Equal([a, b], o.Scheduled.Select(c => c.Request));
        Assert.Equal(2, o.DecodeTokens);
    }

    [Fact]
    public void DecodePullsOnlyWithRoomForTheKvPlusAWatermark()
    {
        var kv = new CountingKvCacheManager(totalBlocks: 10, blockSize: 16);
        var s = new DecodeScheduler(kv, maxNumSeqs: 8, watermarkBlocks: 1);
        var running = NewRequest(100);                       // 101 tokens with its next one: 7 blocks
        running.AppendOutputToken(7);
        running.NumComputedTokens = 100;
        s.AddRequest(running);
        var o = s.Schedule(0);
        Assert.Equal([running], o.ToPull);                   // alone: no watermark needed
        Assert.True(kv.TryAllocateSlots(running, 100));      // what the import allocates
        s.OnMigrated(running);

        var waiting = NewRequest(47);                        // 47 + 1 tokens: 3 blocks
        waiting.AppendOutputToken(7);
        waiting.NumComputedTokens = 47;
        s.AddRequest(waiting);
        o = s.Schedule(1);
        Assert.Equal([running], o.Scheduled.Select(c => c.Request));
        Assert.Empty(o.ToPull);                              // 3 free - 3 needed would leave less than the 1-block watermark
        Assert.Equal(1, s.NumWaiting);

        s.FinishRequest(running, RequestStatus.FinishedLengthCapped);
        o = s.Schedule(2);
        Assert.Equal([waiting], o.ToPull);
    }

    [Fact]
    public void DecodeRunsAtMostMaxTransfersPullsFromOtherProcessesAtOnce()
    {
        var kv = new CountingKvCacheManager(totalBlocks: 100, blockSize: 16);
        var s = new DecodeScheduler(kv, maxNumSeqs: 8, watermarkBlocks: 0, maxTransfers: 2);
        var remote = Enumerable.Range(0, 4).Select(_ => Prefilled(31, new KvFromAnotherProcess())).ToArray();
        foreach (var r in remote) s.AddRequest(r);

        var o = s.Schedule(0);
        Assert.Equal(remote[..2], o.ToPull);                 // room for all four, but two pulls at once
        foreach (var r in o.ToPull) { kv.TryAllocateSlots(r, 31); s.OnTransferStarted(r); }
        o = s.Schedule(1);
        Assert.Empty(o.ToPull);                              // both still under way: the others wait, first come first
        Assert.Equal(2, s.NumTransferring);

        s.OnMigrated(remote[1]);                             // one pull ended: the next one starts beside the other
        o = s.Schedule(2);
        Assert.Equal([remote[1]], o.Scheduled.Select(c => c.Request));
        Assert.Equal([remote[2]], o.ToPull);
        s.OnTransferStarted(remote[2]);
        kv.TryAllocateSlots(remote[2], 31);

        s.OnMigrationFailed(remote[0]);                      // a failed pull frees its place too
        s.FinishRequest(remote[0], RequestStatus.FinishedError);
        var local = Prefilled(31, migration: null);          // KV in this process: a copy on the loop, not counted
        s.AddRequest(local);
        o = s.Schedule(3);
        Assert.Equal([remote[3], local], o.ToPull);
    }

    /// <summary>A request prefilled elsewhere (its KV of <paramref name="tokens"/> tokens to pull), waiting for migration.</summary>
    private Request Prefilled(int tokens, IKvSource? migration, int maxTokens = 100)
    {
        var r = NewRequest(tokens, maxTokens);
        r.AppendOutputToken(7);
        r.NumComputedTokens = tokens;
        r.Migration = migration;
        return r;
    }

    /// <summary>KV held by another process, as the decode scheduler sees it: only where it is matters (it never pulls).</summary>
    private sealed class KvFromAnotherProcess : IKvSource
    {
        public bool IsRemote => true;
        public long PullInto(Tandem.Engine.KvCache.KvSequence reserved, Tandem.Engine.Model.ModelFingerprint model, MemoryStream? scratch, CancellationToken cancellation) =>
            throw new InvalidOperationException("the scheduler decides what to pull; the decode instance pulls");
        public void Release() { }
    }

    /// <summary>
    /// What the decode instance's loop does with one decision, on counted blocks: it reserves the KV of every pull the
    /// scheduler chose (after the schedule, as ReserveImport does: no room there and the request ends with
    /// KvLostException), runs the step, appends a made-up token to every request that samples one and finishes those at
    /// their max_tokens. Returns the requests that finished.
    /// </summary>
    private static List<Request> RunDecodeStep(DecodeScheduler s, SchedulerOutput o)
    {
        foreach (var r in o.ToPull)
        {
            Assert.True(s.Kv.TryAllocateSlots(r, r.NumComputedTokens),
                $"no room to import the KV of {r}, which the scheduler chose to pull ({s.Kv.FreeBlocks} blocks free): it would end with KvLostException");
            s.OnMigrated(r);
        }
        var sampled = Sampling(o);
        s.UpdateFromOutput(o);
        var finished = new List<Request>();
        foreach (var r in sampled)
        {
            r.AppendOutputToken(7);
            if (r.NumOutputTokens < r.MaxTokens) continue;
            s.FinishRequest(r, RequestStatus.FinishedLengthCapped);
            finished.Add(r);
        }
        return finished;
    }

    /// <summary>
    /// A prompt prefilled here and a pull compete for the same free blocks in one step (24c5aaf, found once by a flaky
    /// PrefixCachingTests run, disaggregated, block 8, small pool): the pull's blocks are reserved after the schedule,
    /// so the prompt's next chunk must not take them; both requests then finish, the pool drains.
    /// </summary>
    [Fact]
    public void DecodeLeavesAPullItsBlocksWhenALocalPromptContinuesInTheSameStep()
    {
        var kv = new CountingKvCacheManager(totalBlocks: 10, blockSize: 16);
        var s = new DecodeScheduler(kv, maxNumSeqs: 8, watermarkBlocks: 0, localPrefillBudget: 32);
        var local = NewRequest(100, maxTokens: 2);           // prefilled here, 32 tokens a step: 7 blocks in all
        s.AddLocalPrefill(local);
        var o = s.Schedule(0);
        Assert.Equal([(local, 32)], o.Scheduled.Select(c => (c.Request, c.NumTokens)));
        Assert.Empty(RunDecodeStep(s, o));

        var pulled = Prefilled(111, migration: null, maxTokens: 2); // 111 tokens of KV + its next one: 7 blocks
        s.AddRequest(pulled);
        var finished = new List<Request>();
        for (int step = 1; finished.Count < 2; step++)
        {
            Assert.True(step < 50, "the two requests did not finish");
            finished.AddRange(RunDecodeStep(s, s.Schedule(step)));
        }
        Assert.Equal(2, local.NumOutputTokens);
        Assert.Equal(2, pulled.NumOutputTokens);
        Assert.Equal(10, kv.FreeBlocks);
    }

    /// <summary>
    /// Drives a decode scheduler as its instance and the rest of the system would until every request has its max_tokens:
    /// a request preempted or sent to a prefill instance comes back at the next step prefilled there (one more token, its
    /// KV to pull). At every step each request of <paramref name="decoders"/> not yet done decodes a token, and every
    /// prompt being prefilled here gets its next chunk (none waits for blocks it lacks). Returns the prompts sent to prefill.
    /// </summary>
    private static List<Request> DriveDecodeToTheEnd(DecodeScheduler s, IReadOnlyList<Request> all, IReadOnlyList<Request> decoders)
    {
        var sentAway = new List<Request>();
        var comeBack = new List<Request>();
        for (int step = 1; ; step++)
        {
            Assert.True(step < 2000, $"stalled: {string.Join(", ", all.Where(r => !r.IsFinished))} not done, {s.Kv.FreeBlocks} blocks free");
            foreach (var r in comeBack)
            {
                r.AppendOutputToken(7); // sampled by the prefill instance
                if (r.NumOutputTokens >= r.MaxTokens) { r.Status = RequestStatus.FinishedLengthCapped; continue; }
                r.NumComputedTokens = r.NumTokens - 1;
                s.AddRequest(r);
            }
            comeBack.Clear();
            if (all.All(r => r.IsFinished)) return sentAway;

            var prefilling = all.Where(r => s.IsLocalPrompt(r) && r.Status == RequestStatus.Running).ToList();
            var o = s.Schedule(step);
            var scheduled = o.Scheduled.Select(c => c.Request).ToHashSet();
            foreach (var d in decoders.Where(d => !d.IsFinished))
                Assert.True(scheduled.Contains(d), $"step {step}: {d} made no token");
            foreach (var r in prefilling)
                Assert.True(scheduled.Contains(r), $"step {step}: {r}, being prefilled here, waits");
            sentAway.AddRange(o.ToPrefill);
            comeBack.AddRange(o.Preempted);
            comeBack.AddRange(o.ToPrefill);
            RunDecodeStep(s, o);
        }
    }

    /// <summary>Requests decoding here from the start: prefilled elsewhere and pulled at step 0.</summary>
    private List<Request> PulledAndRunning(DecodeScheduler s, int count, int tokens, int maxTokens)
    {
        var rs = Enumerable.Range(0, count).Select(_ => Prefilled(tokens, migration: null, maxTokens)).ToList();
        foreach (var r in rs) s.AddRequest(r);
        var o = s.Schedule(0);
        Assert.Equal(rs, o.ToPull);
        RunDecodeStep(s, o);
        return rs;
    }

    /// <summary>
    /// --prefill-busy-tokens sends prompts of any length to a decode instance. A flood of them into a small pool, with
    /// requests decoding there or none, and pulls waiting for room or none: each prompt takes the blocks of all of it at
    /// admission and only beside what the running requests grow by meanwhile, so none waits half-prefilled for room and
    /// no running request misses a step; one that does not fit waits its turn while nothing else wants the room, and
    /// goes to a prefill instance (holding nothing here) while pulls wait; every pull gets the blocks it was chosen
    /// with, and every request ends.
    /// </summary>
    [Theory]
    [InlineData(0, 0)]
    [InlineData(2, 0)]
    [InlineData(2, 4)]
    public void DecodeLocalPromptsFloodingASmallPoolNeitherStallNorStopTheRunningDecodes(int decoding, int pulling)
    {
        var kv = new CountingKvCacheManager(totalBlocks: 24, blockSize: 8); // 192 tokens
        var s = new DecodeScheduler(kv, maxNumSeqs: 8, watermarkBlocks: 1, localPrefillBudget: 16);
        var decoders = PulledAndRunning(s, decoding, tokens: 40, maxTokens: 40);
        var prompts = Enumerable.Range(0, 8).Select(_ => NewRequest(90, maxTokens: 24)).ToList(); // 12 blocks with their answer each
        var pulls = Enumerable.Range(0, pulling).Select(_ => Prefilled(60, migration: null, maxTokens: 16)).ToList();
        foreach (var r in prompts) s.AddLocalPrefill(r);
        foreach (var r in pulls) s.AddRequest(r);

        var sentAway = DriveDecodeToTheEnd(s, [.. decoders, .. prompts, .. pulls], decoders);
        if (pulling == 0)
        {
            Assert.Empty(sentAway);                              // nothing else wanted the room: all prefilled here
            Assert.All(prompts, r => Assert.Equal(0, r.NumPreemptions));
        }
        else Assert.NotEmpty(sentAway);
        Assert.All(sentAway, r => Assert.Contains(r, prompts));
        Assert.All(decoders, r => Assert.Equal(40, r.NumOutputTokens));
        Assert.All(prompts, r => Assert.Equal(24, r.NumOutputTokens));
        Assert.All(pulls, r => Assert.Equal(16, r.NumOutputTokens));
        Assert.Equal(24, kv.FreeBlocks);
    }

    [Fact]
    public void DecodePreemptsTheNewestRunningRequest()
    {
        var kv = new CountingKvCacheManager(totalBlocks: 4, blockSize: 16);
        var s = new DecodeScheduler(kv, maxNumSeqs: 8, watermarkBlocks: 0);
        // Three requests at 32 tokens, each with a full second block: the next token needs a third block each.
        var rs = Enumerable.Range(0, 3).Select(_ => NewRequest(31)).ToArray();
        foreach (var r in rs)
        {
            r.AppendOutputToken(7);
            r.NumComputedTokens = 31;
            s.AddRequest(r);
        }
        // Pull them in reverse arrival order to show the victim is chosen by arrival, not by join order.
        var o = s.Schedule(0);
        Assert.Equal(2, o.ToPull.Count);                     // 2 blocks each: the third does not fit
        foreach (var r in o.ToPull.AsEnumerable().Reverse()) { kv.TryAllocateSlots(r, 31); s.OnMigrated(r); }
        o = s.Schedule(1);
        var sampled = Sampling(o);
        s.UpdateFromOutput(o);
        AppendSampled(o, sampled);                          // both now at 32 computed + 1 new: need a third block each
        Assert.Equal(0, kv.FreeBlocks);

        o = s.Schedule(2);
        var victim = Assert.Single(o.Preempted);
        Assert.Same(rs[1], victim);                          // newest of the running two
        Assert.Equal(0, victim.NumComputedTokens);
        Assert.Equal(1, victim.NumPreemptions);
        Assert.Equal(RequestStatus.Waiting, victim.Status);
        Assert.Equal([rs[0]], o.Scheduled.Select(c => c.Request));
        Assert.Empty(o.ToPull);
    }

    [Fact]
    public void ColocatedPreemptionRequeuesTheVictimFirstWithItsOutputAsPrompt()
    {
        var kv = new CountingKvCacheManager(totalBlocks: 4, blockSize: 16);
        var s = new ColocatedScheduler(kv, ColocatedPolicy.Chunked, tokenBudget: 256, maxNumSeqs: 8, watermarkBlocks: 0);
        var a = NewRequest(32);
        var b = NewRequest(32);
        var c = NewRequest(8);
        s.AddRequest(a);
        s.AddRequest(b);
        var o = s.Schedule(0);
        var sampled = Sampling(o);
        s.UpdateFromOutput(o);
        AppendSampled(o, sampled);                          // a, b: 33 tokens, 32 computed, 2 blocks each: pool full
        s.AddRequest(c);

        o = s.Schedule(1);                                   // a needs a third block: b (newest running) is preempted
        Assert.Equal([b], o.Preempted);
        Assert.Equal([a], o.Scheduled.Select(x => x.Request));
        Assert.Equal(33, b.NumTokensToCompute);              // prompt + its output, recomputed from scratch
        sampled = Sampling(o);
        s.UpdateFromOutput(o);
        AppendSampled(o, sampled);
        s.FinishRequest(a, RequestStatus.FinishedLengthCapped);
        o = s.Schedule(2);
        Assert.Equal([b, c], o.Scheduled.Select(x => x.Request)); // the victim goes before later arrivals
        Assert.Equal([33, 8], o.Scheduled.Select(x => x.NumTokens));
    }
}
