using Tandem.Engine.Sampling;
using Tandem.Engine.Tokenization;
using Tandem.Serving.Scheduling;
using static Tandem.Serving.Tests.ServingTestKit;

namespace Tandem.Serving.Tests;

/// <summary>Cache-aware routing: overlap against load, and what it does with two real instances.</summary>
public class CacheAwareRoutingTests
{
    private sealed record Load(int QueuedTokens, int RunningCount) : IEntryLoad;

    [Fact]
    public void OverlapWinsUntilTheQueueCostsMoreThanTheUncachedPrompt()
    {
        Load[] instances = [new(100, 1), new(0, 0)];
        // 400-token prompt, 384 cached on instance 0: 100 queued + 16 new beats 0 queued + 400 new.
        Assert.Equal(0, DispatchPolicy.PickEntryCacheAware(instances, 400, [384, 0], weight: 1));
        // The same overlap behind a long queue: instance 1 computes less before this prompt's first token.
        Assert.Equal(1, DispatchPolicy.PickEntryCacheAware([new Load(500, 1), new Load(0, 0)], 400, [384, 0], weight: 1));
        // Weight 0 ignores the cache: least loaded.
        Assert.Equal(1, DispatchPolicy.PickEntryCacheAware(instances, 400, [384, 0], weight: 0));
        // Equal scores: fewer running, then the lowest index.
        Assert.Equal(1, DispatchPolicy.PickEntryCacheAware([new Load(0, 2), new Load(0, 1)], 10, [0, 0], weight: 1));
        Assert.Equal(0, DispatchPolicy.PickEntryCacheAware([new Load(0, 1), new Load(0, 1)], 10, [0, 0], weight: 1));
    }

    /// <summary>
    /// One conversation's turns, one at a time, on two colocated instances: cache-aware routing keeps it on the
    /// instance holding its history (every later turn hits there; the other instance sees nothing), round-robin
    /// alternates and finds only what the turn before last left.
    /// </summary>
    [Fact]
    public async Task TurnsOfAConversationFollowTheirCache()
    {
        using var model = Load("stories260K.gguf");
        var tokenizer = Tokenizer.FromGguf(model.File);
        var (awareInstances, awareHits) = await Converse(model, tokenizer, EntryRouting.CacheAware);
        var (rrInstances, rrHits) = await Converse(model, tokenizer, EntryRouting.RoundRobin);
        Assert.Single(awareInstances, i => i.PrefixCacheQueries > 0);
        Assert.All(rrInstances, i => Assert.True(i.PrefixCacheQueries > 0));
        Assert.True(awareHits > rrHits, $"cache-aware hit {awareHits} tokens, round-robin {rrHits}");
    }

    private static async Task<(IReadOnlyList<InstanceSnapshot>, long)> Converse(Engine.Model.LanguageModel model, Tokenizer tokenizer, EntryRouting routing)
    {
        await using var engine = ServingRuntime.Start(Options(model, ServingMode.Colocated) with
        {
            ColocatedInstances = 2, Routing = routing, BlockSize = 8, MaxContext = 512,
        });
        var history = new List<int>(tokenizer.Encode("Once upon a time, there was a little girl named Lily. She liked to play in the park.", addBos: true));
        string[] turns = ["One day", " she saw a dog.", " The dog was big and", " Lily said", " Then they"];
        foreach (var turn in turns)
        {
            history.AddRange(tokenizer.Encode(turn, addBos: false));
            var done = await Collect(engine.Submit(new GenerationRequest
            {
                Id = $"t{history.Count}", PromptTokens = [.. history], MaxTokens = 8, IgnoreEos = true, Sampling = SamplingParams.Greedy,
            }));
            history.AddRange(done.Tokens);
        }
        var instances = engine.Snapshot().Instances;
        return (instances, instances.Sum(i => i.PrefixCacheHits));
    }
}
