using Tandem.Benchmark.Reports;
using Tandem.Benchmark.Workloads;

namespace Tandem.Benchmark.Tests;

/// <summary>
/// Against a server with a prompt cache (the fake keeps every prompt and reuses shared prefixes, as llama.cpp's slots
/// do): the warm-up and each rate of a sweep send prompts the server has not seen, and what a cache still reuses is
/// in the report.
/// </summary>
public class PromptCacheTests
{
    private const int Prompts = 4;
    private const int PromptLength = 16;

    [Theory]
    [InlineData(PromptFormat.Text)]
    [InlineData(PromptFormat.TokenIds)]
    public async Task TheWarmupAndEveryRateSendPromptsTheServerHasNotSeen(PromptFormat format)
    {
        await using var server = await FakeOpenAiServer.StartAsync((_, _) => new FakePlan(0.001, 0.002), cacheReport: FakeCacheReport.Usage);
        var options = new ServeBenchmarkOptions
        {
            BaseUrl = server.BaseUrl,
            Workload = $"fixed:{PromptLength}:2",
            NumPrompts = Prompts,
            PromptFormat = format,
            Rates = [double.PositiveInfinity, 50, double.PositiveInfinity],
            Seed = 11,
            WarmupRequests = 1,
        };

        var report = await ServeBenchmark.RunAsync(options);

        // Runs are sequential: the warm-up, then each run's requests (in any order within the run).
        var sent = server.Bodies.Select(b => string.Join(' ', FakeOpenAiServer.PromptTokenList(b))).ToList();
        Assert.Equal(1 + 3 * Prompts, sent.Count);
        var runs = Enumerable.Range(0, 3).Select(k => sent.Skip(1 + k * Prompts).Take(Prompts).ToHashSet()).ToList();
        Assert.DoesNotContain(sent[0], runs.SelectMany(r => r));
        for (int a = 0; a < runs.Count; a++)
            for (int b = a + 1; b < runs.Count; b++)
                Assert.Empty(runs[a].Intersect(runs[b]));

        // The server prefilled what it was timed on: at most a coincidental first word or id came from its cache.
        Assert.All(report.Runs, run =>
        {
            Assert.NotNull(run.Summary.CachedPromptTokens);
            Assert.All(run.Requests, r => Assert.InRange(r.CachedPromptTokens!.Value, 0, 1));
        });

        // The same seed sends the same prompts, run by run.
        await ServeBenchmark.RunAsync(options);
        var again = server.Bodies.Skip(sent.Count).Select(b => string.Join(' ', FakeOpenAiServer.PromptTokenList(b))).ToList();
        Assert.Equal(sent[0], again[0]);
        for (int k = 0; k < 3; k++)
            Assert.Equal(runs[k], again.Skip(1 + k * Prompts).Take(Prompts).ToHashSet());
    }

    [Theory]
    [InlineData(FakeCacheReport.LlamaCppTimings)]
    [InlineData(FakeCacheReport.Usage)]
    public async Task TheReportSaysWhenTheServerAnsweredFromItsPromptCache(FakeCacheReport style)
    {
        // A dataset's prompts are the file's own text, sent again at every rate: the second run hits the cache.
        await using var server = await FakeOpenAiServer.StartAsync((_, _) => new FakePlan(0.001, 0.002), cacheReport: style);
        string dir = TestPaths.NewTempDir();
        string dataset = Path.Combine(dir, "prompts.jsonl"), json = Path.Combine(dir, "r.json"), csv = Path.Combine(dir, "r.csv");
        File.WriteAllLines(dataset, [
            "{\"prompt\": \"tell me a story about a cat who lived in a tall old house\", \"output_len\": 2}",
            "{\"prompt\": \"why is the sky blue on a clear day in summer\", \"output_len\": 2}",
        ]);

        var (code, stdout, stderr) = CliTests.Run("bench", "serve", "--url", server.BaseUrl.ToString(), "--dataset", dataset, "-n", "2",
            "--rates", "inf,inf", "--out", json, "--csv", csv);
        Assert.True(code == 0, stderr);

        // Each prompt again: all its words but the last come from the cache (the fake counts words as tokens).
        int[] expected = [14 - 1, 11 - 1];
        var report = BenchReportJson.Read(json);
        Assert.Equal(0, report.Runs[0].Summary.CachedPromptTokens);
        Assert.Equal(0, report.Runs[0].Summary.CachedPromptRequests);
        Assert.Equal(expected.Sum(), report.Runs[1].Summary.CachedPromptTokens);
        Assert.Equal(2, report.Runs[1].Summary.CachedPromptRequests);
        Assert.Equal(expected, report.Runs[1].Requests.Select(r => r.CachedPromptTokens!.Value).OrderDescending());
        Assert.Contains($"\"cached_prompt_tokens\": {expected.Sum()}", File.ReadAllText(json));
        Assert.Single(stdout.Split('\n'), line => line.Contains($"note: the server reported {expected.Sum()} prompt tokens"));

        var rows = File.ReadAllLines(csv).Select(r => r.Split(',')).ToList();
        int column = Array.IndexOf(rows[0], "cached_prompt_tokens");
        Assert.Equal(["0", "0"], rows[1..3].Select(r => r[column]));
        Assert.Equal(expected.Select(n => n.ToString()), rows[3..].Select(r => r[column]).OrderByDescending(int.Parse));
    }

    [Fact]
    public async Task NothingIsSaidWhenTheServerReportsNoCache()
    {
        await using var server = await FakeOpenAiServer.StartAsync((_, _) => new FakePlan(0.001, 0.002));
        var (code, stdout, stderr) = CliTests.Run("bench", "serve", "--url", server.BaseUrl.ToString(), "--workload", "fixed:8:2", "-n", "2", "--rates", "inf,inf");
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("prompt cache", stdout);
        Assert.DoesNotContain("from the server's cache", stdout);
    }
}
