using Tandem.Benchmark.Arrivals;
using Tandem.Benchmark.Client;
using Tandem.Benchmark.Metrics;
using Tandem.Benchmark.Workloads;
using Tandem.Planning.Simulation;
using Tandem.Serving;

namespace Tandem.Planning.Tests;

/// <summary>
/// The simulator plays the multi-turn workload as the bench sends it (each later turn its think time after the turn
/// before ended) and models prefix caching with the runtime's own KV manager: a conversation's history is computed once.
/// </summary>
public class PrefixCacheSimulationTests
{
    [Theory]
    [InlineData(ServingMode.Disaggregated)]
    [InlineData(ServingMode.Colocated)]
    [InlineData(ServingMode.Chunked)]
    public void A_multi_turn_workload_simulated_with_the_cache_computes_fewer_prompt_tokens_and_answers_sooner(ServingMode mode)
    {
        var workload = new MultiTurnWorkload(Turns: 4, SystemTokens: 128, new LengthDistribution(32, 0.5), new LengthDistribution(16, 0.5),
            ThinkSeconds: 0.5, MaxModelLength: null);
        var requests = workload.Generate(conversations: 8, seed: 1, PromptFormat.TokenIds);
        var arrivals = new ArrivalProcess(0.5, 1.0).ArrivalTimes(requests.Count, seed: 1);

        var off = Simulate(mode, requests, arrivals, prefixCaching: false);
        var on = Simulate(mode, requests, arrivals, prefixCaching: true);

        long promptTokens = requests.Sum(r => (long)r.PromptTokens);
        long cached = on.Records.Sum(r => (long)r.CachedPromptTokens!.Value);
        Assert.Equal(0, off.Records.Sum(r => r.CachedPromptTokens!.Value));
        // Every later turn reuses its history up to its last full block, and every first turn after the first the
        // system prompt: most of the prompt tokens are not computed again.
        Assert.InRange(cached, promptTokens / 2, promptTokens - 1);
        foreach (var r in requests.Where(r => r.After is not null))
            Assert.True(on.Records[r.Index].CachedPromptTokens >= requests[r.After!.Value].PromptTokens / 16 * 16 - 16,
                $"turn {r.Index} found {on.Records[r.Index].CachedPromptTokens} of its history's {requests[r.After!.Value].PromptTokens} tokens cached");

        var ttftOff = LatencyStats.From(off.Records.Select(r => RequestMetrics.Ttft(r)!.Value));
        var ttftOn = LatencyStats.From(on.Records.Select(r => RequestMetrics.Ttft(r)!.Value));
        Assert.True(ttftOn!.Mean < ttftOff!.Mean, $"TTFT mean {ttftOn.Mean} with the cache, {ttftOff.Mean} without");
        Assert.True(ttftOn.Median < ttftOff.Median, $"TTFT median {ttftOn.Median} with the cache, {ttftOff.Median} without");
    }

    [Fact]
    public void Cache_aware_routing_keeps_conversations_on_the_instance_holding_their_history()
    {
        var workload = new MultiTurnWorkload(Turns: 4, SystemTokens: 64, new LengthDistribution(32, 0.5), new LengthDistribution(16, 0.5),
            ThinkSeconds: 0.5, MaxModelLength: null);
        var requests = workload.Generate(conversations: 8, seed: 2, PromptFormat.TokenIds);
        var arrivals = new ArrivalProcess(1.0, 1.0).ArrivalTimes(requests.Count, seed: 2);
        long Cached(EntryRouting routing)
        {
            var placement = new Placement { Mode = ServingMode.Colocated, ColocatedInstances = 2, KvBlocksPerInstance = 400, Routing = routing };
            var result = ServingSimulator.Simulate(placement, SyntheticProfiles.Linear(), requests, arrivals);
            Assert.All(result.Records, r => Assert.True(r.Success, r.Error));
            return result.Records.Sum(r => (long)r.CachedPromptTokens!.Value);
        }
        long aware = Cached(EntryRouting.CacheAware), roundRobin = Cached(EntryRouting.RoundRobin);
        // Round-robin finds a history only when the turn lands where the turn before it ran; cache-aware always does.
        Assert.True(aware > roundRobin, $"cached tokens: cache-aware {aware}, round-robin {roundRobin}");
        long histories = requests.Where(r => r.After is not null).Sum(r => (long)(requests[r.After!.Value].PromptTokens / 16 * 16));
        Assert.True(aware >= histories, $"cache-aware found {aware} cached tokens; the later turns' histories hold {histories} in whole blocks");
    }

    [Fact]
    public void A_later_turn_arrives_its_think_time_after_the_turn_before_it_ended()
    {
        var workload = new MultiTurnWorkload(3, 32, new LengthDistribution(16, 0), new LengthDistribution(8, 0), ThinkSeconds: 2, MaxModelLength: null);
        var requests = workload.Generate(conversations: 3, seed: 4, PromptFormat.TokenIds);
        var result = Simulate(ServingMode.Colocated, requests, [0, 0.1, 0.2, 99, 99, 99, 99, 99, 99], prefixCaching: true);
        foreach (var r in requests)
        {
            var record = result.Records[r.Index];
            Assert.True(record.Success);
            Assert.Equal(r.OutputTokens, record.OutputTokens);
            if (r.After is int before)
                Assert.Equal(result.Records[before].EndAt + r.ThinkSeconds, record.ScheduledAt, 9); // not the 99 s arrival time given
        }
    }

    private static Tandem.Benchmark.RunResult Simulate(ServingMode mode, IReadOnlyList<BenchRequest> requests, IReadOnlyList<double> arrivals, bool prefixCaching)
    {
        // Local prefill off: every turn is prefilled where the turn before was, so each finds its whole history cached. With
        // it on, a turn whose new part is short is prefilled on the decode instance, and a later turn with a long new part
        // then goes to the prefill instance, which lacks the turns prefilled on decode (they are computed again there).
        var placement = new Placement { Mode = mode, KvBlocksPerInstance = 400, ChunkBudget = 64, PrefixCaching = prefixCaching, LocalPrefillThreshold = 0 };
        var result = ServingSimulator.Simulate(placement, SyntheticProfiles.Linear(), requests, arrivals);
        Assert.All(result.Records, r => Assert.True(r.Success, r.Error));
        return result;
    }
}
