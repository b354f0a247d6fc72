using Tandem.Benchmark.Client;
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
    /// A conversation's next turn goes out its think time after its answer, not after every conversation has started:
    /// conversation 1 starts at 4 s, and conversation 0's later turns (fake server: 0.1 s per request, no think time)
    /// must all be sent long before that. Before the fix the runner released follow-ups only once its loop had passed
    /// the last first turn's arrival, so every later turn of a multi-turn run was bunched after the last conversation
    /// had started, whatever the rate.
    /// </summary>
    [Fact]
    public async Task LaterTurnsDoNotWaitForOtherConversationsToStart()
    {
        await using var server = await FakeOpenAiServer.StartAsync((_, _) => new FakePlan(0.05, 0.1));
        var requests = Chat(turns: 3, think: 0).Generate(conversations: 2, seed: 5);
        var arrivals = new double[requests.Count];
        arrivals[1] = 4.0; // the second conversation's first turn; later turns' entries are ignored
        using var client = new OpenAiStreamingClient(new ClientOptions
        {
            BaseUrl = server.BaseUrl,
            Model = FakeOpenAiServer.ModelName,
            Timeout = TimeSpan.FromSeconds(30),
        });
        var result = await BenchmarkRunner.RunAsync(client, requests, arrivals);

        Assert.All(result.Records, r => Assert.True(r.Success, r.Error));
        var byIndex = result.Records.ToDictionary(r => r.Index);
        var conversation0 = requests.Where(r => r.Index == 0 || IsIn(requests, r, 0)).Select(r => byIndex[r.Index]).OrderBy(r => r.SentAt).ToList();
        Assert.Equal(3, conversation0.Count);
        for (int t = 1; t < conversation0.Count; t++)
        {
            Assert.True(conversation0[t].SentAt >= conversation0[t - 1].EndAt, $"turn {t} was sent before the turn before it ended");
            Assert.True(conversation0[t].SentAt < byIndex[1].ScheduledAt,
                $"conversation 0's turn {t} was sent at {conversation0[t].SentAt:F2} s, not before conversation 1 started at {byIndex[1].ScheduledAt:F2} s");
        }
        Assert.True(byIndex[1].SentAt >= 4.0);
    }

    private static bool IsIn(IReadOnlyList<BenchRequest> requests, BenchRequest request, int conversationStart)
    {
        for (var r = request; r.After is int after; r = requests[after])
            if (after == conversationStart) return true;
        return false;
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
