using Tandem.Benchmark.Metrics;
using Tandem.Benchmark.Workloads;
using Tandem.Serving;

namespace Tandem.Benchmark.Tests;

/// <summary>The multi-turn chat workload: its prompts resend their history, and the runner waits for answers between turns.</summary>
[Collection(SerialCollection.Name)]
public class MultiTurnWorkloadTests
{
    private static MultiTurnWorkload Chat(int turns = 3, int system = 24, double think = 0.5, int? cap = null) =>
        MultiTurnWorkload.FromOptions(turns, system, userTokens: 6, outputTokens: 5, userCv: null, outputCv: null, thinkSeconds: think, maxModelLength: cap);

    [Fact]
    public void EachTurnResendsTheWholeHistoryAndConversationsShareTheSystemPrompt()
    {
        var requests = Chat().Generate(conversations: 4, seed: 7, PromptFormat.TokenIds, 259, 512);
        Assert.Equal(12, requests.Count);
        Assert.Equal(Enumerable.Range(0, 12), requests.Select(r => r.Index));
        for (int i = 0; i < 4; i++)
        {
            Assert.Null(requests[i].After); // first turns come first, sent at arrival times
            Assert.Equal(requests[0].PromptTokenIds![..24], requests[i].PromptTokenIds![..24]); // the shared system prompt
        }
        foreach (var r in requests.Skip(4))
        {
            var before = requests[r.After!.Value];
            Assert.True(before.Index < r.Index);
            // History: the previous prompt, then an answer of the length it asked for, then a new message.
            Assert.Equal(before.PromptTokenIds, r.PromptTokenIds![..before.PromptTokens]);
            Assert.True(r.PromptTokens > before.PromptTokens + before.OutputTokens);
            Assert.Equal(r.PromptTokens, r.PromptTokenIds.Length);
            Assert.True(r.ThinkSeconds >= 0);
        }
        // Seeded: the same seed draws the same workload, another seed another one.
        Assert.Equal(requests.Select(r => r.PromptTokenIds), Chat().Generate(4, 7, PromptFormat.TokenIds, 259, 512).Select(r => r.PromptTokenIds));
        Assert.NotEqual(requests[0].PromptTokenIds, Chat().Generate(4, 8, PromptFormat.TokenIds, 259, 512)[0].PromptTokenIds);
        // Text prompts keep the structure too.
        var text = Chat().Generate(2, 7);
        Assert.StartsWith(text[0].Prompt!, text[2].Prompt!);
    }

    [Fact]
    public void ConversationsEndBeforeTheContextCapAndOptionsAreChecked()
    {
        var requests = Chat(turns: 10, system: 10, cap: 60).Generate(conversations: 3, seed: 1, PromptFormat.TokenIds, 259, 512);
        Assert.All(requests, r => Assert.True(r.PromptTokens + r.OutputTokens <= 60));
        Assert.True(requests.Count < 30);
        Assert.Throws<ArgumentException>(() => Chat(turns: 0));
        Assert.Throws<ArgumentException>(() => Chat(think: -1));
        Assert.Throws<ArgumentException>(() => Chat(system: 100, cap: 50));
        var options = new ServeBenchmarkOptions { BaseUrl = new Uri("http://127.0.0.1:1"), Workload = "fixed", Turns = 3 };
        Assert.Contains("--workload multiturn", Assert.Throws<ArgumentException>(options.Validate).Message);
    }

    /// <summary>
    /// Against a real Tandem server with prefix caching: every later turn is sent only after the turn before it ended,
    /// and the server reports the history it took from its cache.
    /// </summary>
    [Fact]
    public async Task LaterTurnsWaitForTheirAnswerAndHitTandemsPrefixCache()
    {
        await using var server = await LocalTandemServer.StartAsync(ServingMode.Colocated);

        var options = new ServeBenchmarkOptions
        {
            BaseUrl = server.Address,
            Workload = MultiTurnWorkload.Name,
            Turns = 3,
            SystemLength = 40,
            InputLength = 8,
            OutputLength = 6,
            ThinkTime = 0.01,
            NumPrompts = 6,
            PromptFormat = PromptFormat.TokenIds,
            TokenIdMin = 259,
            TokenIdMax = 512,
            Seed = 3,
            Slo = SloSpec.None,
        };
        var report = await ServeBenchmark.RunAsync(options);

        var run = Assert.Single(report.Runs);
        var sent = ServeBenchmark.BuildWorkload(options); // the first run sends the workload as drawn
        Assert.Equal(6, run.Requests.Count);
        foreach (var r in run.Requests)
        {
            Assert.True(r.Success, r.Error);
            Assert.Equal(sent[r.Index].PromptTokens, r.PromptTokensReported);
            if (sent[r.Index].After is not int after) continue;
            var before = run.Requests.Single(x => x.Index == after);
            Assert.True(r.SentS >= before.EndS, $"turn {r.Index} was sent at {r.SentS} before turn {after} ended at {before.EndS}");
            Assert.True(r.CachedPromptTokens >= 16, $"turn {r.Index} found {r.CachedPromptTokens} tokens of its history cached");
        }
        Assert.True(run.Summary.CachedPromptTokens > 0);
    }
}
