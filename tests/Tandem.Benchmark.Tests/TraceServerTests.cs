using Tandem.Benchmark.Workloads;

namespace Tandem.Benchmark.Tests;

/// <summary>A timed trace played against the fake server: its own pace when no rate is given, stretched to each rate given.</summary>
[Collection(SerialCollection.Name)]
public class TraceServerTests
{
    [Fact]
    public async Task ArrivalTimesComeFromTheTrace()
    {
        await using var server = await FakeOpenAiServer.StartAsync((_, _) => new FakePlan(0.01, 0.02));
        string path = Path.Combine(TestPaths.NewTempDir(), "trace.jsonl");
        // Bursty: two together, a pause, one more. Mean rate 3 / 0.6 s = 5 req/s.
        File.WriteAllLines(path, [
            "{\"input_len\": 6, \"output_len\": 2, \"arrival_time\": 10.0}",
            "{\"input_len\": 4, \"output_len\": 3, \"arrival_time\": 10.0}",
            "{\"input_len\": 8, \"output_len\": 2, \"arrival_time\": 10.1}",
            "{\"input_len\": 2, \"output_len\": 5, \"arrival_time\": 10.6}",
        ]);
        var options = new ServeBenchmarkOptions
        {
            BaseUrl = server.BaseUrl,
            Trace = path,
            NumPrompts = int.MaxValue,
            PromptFormat = PromptFormat.TokenIds,
            WarmupRequests = 0,
        };

        var asIs = await ServeBenchmark.RunAsync(options);
        var run = Assert.Single(asIs.Runs);
        Assert.Equal(5.0, run.Rate, 9);
        Assert.Contains("trace", run.Arrival);
        Assert.Equal([0.0, 0.0, 0.1, 0.6], run.Requests.Select(r => Math.Round(r.ScheduledS, 9)));
        Assert.All(run.Requests, r => Assert.True(r.Success, r.Error));
        Assert.All(run.Requests, r => Assert.True(r.SentS >= r.ScheduledS));
        Assert.Equal([2, 3, 2, 5], run.Requests.Select(r => r.OutputTokens));
        Assert.Equal([6, 4, 8, 2], run.Requests.Select(r => r.PromptTokensReported!.Value));

        var sweep = await ServeBenchmark.RunAsync(options with { Rates = [10, double.PositiveInfinity] });
        Assert.Equal([0.0, 0.0, 0.05, 0.3], sweep.Runs[0].Requests.Select(r => Math.Round(r.ScheduledS, 9)));
        Assert.All(sweep.Runs[1].Requests, r => Assert.Equal(0.0, r.ScheduledS));
        Assert.Equal(5.0, sweep.Config.TraceRate!.Value, 9);
        Assert.Equal(3 * 4, server.Bodies.Count);
    }
}
