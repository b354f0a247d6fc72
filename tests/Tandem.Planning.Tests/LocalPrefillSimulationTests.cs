using Tandem.Benchmark.Workloads;
using Tandem.Engine.Tests;
using Tandem.Planning.Simulation;
using Tandem.Serving;

namespace Tandem.Planning.Tests;

/// <summary>
/// Conditional disaggregation in the simulator (<c>tandem simulate --local-prefill-threshold</c>): its decode instances
/// take the prompts the runtime's controller would give them, by the same rule (DispatchPolicy.PickLocalPrefill) over
/// the same KV managers, so a planner can say which threshold pays.
/// </summary>
public class LocalPrefillSimulationTests
{
    private const int Threshold = 40;
    private const int KvBlocks = 256; // nothing is evicted: the comparison is of routing and cache hits

    /// <summary>
    /// A placement left alone simulates what <c>tandem serve</c> runs: the server's default threshold, so a prompt of at
    /// most that many uncached tokens is prefilled on the decode instance and one token more goes through prefill.
    /// </summary>
    [Fact]
    public void By_default_the_simulator_prefills_short_prompts_on_decode_as_the_server_does()
    {
        var placement = new Placement { KvBlocksPerInstance = KvBlocks };
        Assert.Equal(new ServingOptions().LocalPrefillThreshold, placement.LocalPrefillThreshold);
        int threshold = placement.LocalPrefillThreshold;
        Assert.True(threshold > 0, "disaggregated mode prefills short prompts on decode by default");
        // Prompts without token ids share nothing: their uncached part is the whole prompt.
        BenchRequest[] requests = [new(0, null, null, threshold, 4), new(1, null, null, threshold + 1, 4)];
        var records = ServingSimulator.Simulate(placement, SyntheticProfiles.Linear(), requests, [0, 100]).Records;
        Assert.Null(records[0].ServerTimeline!.TransferStart);
        Assert.NotNull(records[1].ServerTimeline!.TransferStart);
    }

    [Fact]
    public async Task The_simulator_prefills_on_decode_exactly_the_turns_the_runtime_prefills_there_with_the_same_cache_hits()
    {
        // Conversations of 3 turns over a shared 48-token system prompt; lengths vary, so some prompts' uncached parts
        // are within the threshold and some are not.
        var workload = new MultiTurnWorkload(Turns: 3, SystemTokens: 48, new LengthDistribution(24, 0.6), new LengthDistribution(6, 0.5),
            ThinkSeconds: 0, MaxModelLength: null);
        var requests = workload.Generate(conversations: 4, seed: 3, PromptFormat.TokenIds, tokenIdMin: 3, tokenIdMax: 500);
        // One request at a time, conversation after conversation, each turn after the one before it: the order the
        // simulator plays them in below (a first turn every 1000 s, the next turns as soon as the one before ended).
        var order = new List<int>();
        foreach (var first in requests.Where(r => r.After is null))
        {
            int? next = first.Index;
            while (next is int k)
            {
                order.Add(k);
                next = requests.FirstOrDefault(r => r.After == k)?.Index;
            }
        }
        Assert.Equal(requests.Count, order.Count);

        var measured = new (bool Local, int Cached)[requests.Count];
        await using (var runtime = ServingRuntime.Start(new ServingOptions
        {
            ModelPath = TestPaths.Model("stories260K.gguf"),
            Mode = ServingMode.Disaggregated,
            PinThreads = false,
            CoresPerInstance = 1,
            KvBlocksPerInstance = KvBlocks,
            LocalPrefillThreshold = Threshold,
        }))
        {
            foreach (int i in order)
            {
                var b = requests[i];
                var handle = runtime.Submit(new GenerationRequest { Id = i.ToString(), PromptTokens = b.PromptTokenIds!, MaxTokens = b.OutputTokens, IgnoreEos = true });
                var outcome = await handle.Completion.WaitAsync(TimeSpan.FromSeconds(60));
                measured[i] = (outcome.Timeline.TransferStart is null, outcome.CachedTokens);
            }
        }

        var firstTurns = requests.Where(r => r.After is null).ToList();
        var arrivals = requests.Select(r => r.After is null ? 1000.0 * firstTurns.IndexOf(r) : 0).ToArray();
        var placement = new Placement { Mode = ServingMode.Disaggregated, KvBlocksPerInstance = KvBlocks, LocalPrefillThreshold = Threshold };
        var simulated = ServingSimulator.Simulate(placement, SyntheticProfiles.Linear(), requests, arrivals).Records
            .Select(r => (Local: r.ServerTimeline!.TransferStart is null, Cached: r.CachedPromptTokens!.Value)).ToArray();

        Assert.Equal(measured, simulated);
        // The comparison covers both ways: prompts through the prefill instance and prompts prefilled on decode.
        Assert.Contains(measured, m => m.Local);
        Assert.Contains(measured, m => !m.Local);
        // And with the threshold off the simulator sends every prompt through prefill, as before.
        var off = ServingSimulator.Simulate(placement with { LocalPrefillThreshold = 0 }, SyntheticProfiles.Linear(), requests, arrivals).Records;
        Assert.All(off, r => Assert.NotNull(r.ServerTimeline!.TransferStart));
    }
}
