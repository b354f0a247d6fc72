using System.Text.Json;
using Tandem.Benchmark.Arrivals;
using Tandem.Benchmark.Client;
using Tandem.Benchmark.Metrics;
using Tandem.Benchmark.Workloads;

namespace Tandem.Benchmark.Tests;

/// <summary>The client and runner against the fake Kestrel server: what is sent, what is recorded.</summary>
[Collection(SerialCollection.Name)]
public class StreamingClientTests
{
    private static FakePlan Quick(int others, int arrival) => new(0.02 + 0.01 * others, 0.08 + 0.01 * others);

    private static ClientOptions Options(FakeOpenAiServer server, ApiEndpoint endpoint = ApiEndpoint.Completions, double timeout = 30) => new()
    {
        BaseUrl = new Uri(server.BaseUrl, "v1"), // a trailing /v1 is accepted
        Endpoint = endpoint,
        Model = FakeOpenAiServer.ModelName,
        Timeout = TimeSpan.FromSeconds(timeout),
    };

    [Fact]
    public async Task TokenCountsAndTimesAreConsistentWithForcedLengths()
    {
        await using var server = await FakeOpenAiServer.StartAsync(Quick);
        var requests = WorkloadGenerator.Generate(WorkloadSpec.Preset("fixed", 9, 6), 8, seed: 2, PromptFormat.TokenIds);
        using var client = new OpenAiStreamingClient(Options(server));
        var result = await BenchmarkRunner.RunAsync(client, requests, ArrivalProcess.Poisson(50).ArrivalTimes(8, 2));

        Assert.Equal(8, result.Records.Count);
        Assert.Equal(Enumerable.Range(0, 8), result.Records.Select(r => r.Index));
        foreach (var r in result.Records)
        {
            Assert.True(r.Success, r.Error);
            Assert.Equal(6, r.OutputTokens);
            Assert.True(r.OutputTokensFromUsage);
            Assert.Equal(6, r.TokenTimes.Count);
            Assert.Equal(9, r.PromptTokensReported);
            Assert.Equal("length", r.FinishReason);
            Assert.True(r.ScheduledAt <= r.SentAt && r.SentAt <= r.FirstTokenAt && r.LastTokenAt <= r.EndAt);
            Assert.True(r.TokenTimes.Zip(r.TokenTimes.Skip(1)).All(p => p.First <= p.Second));
            double ttft = RequestMetrics.Ttft(r)!.Value, e2e = RequestMetrics.E2e(r)!.Value;
            Assert.True(ttft > 0 && ttft <= e2e);
            Assert.Equal(5, RequestMetrics.Itls(r).Count());
            Assert.NotNull(r.ServerTimeline);
            Assert.Equal(6, r.ServerTimeline!.TokenTimes.Count);
        }
        Assert.True(result.DurationSeconds >= result.Records.Max(r => r.LastTokenAt!.Value));

        // What went over the wire: exact prompt ids, forced length, usage and timeline asked for.
        Assert.Equal(8, server.Bodies.Count);
        foreach (var body in server.Bodies)
        {
            Assert.Equal(FakeOpenAiServer.ModelName, body.GetProperty("model").GetString());
            Assert.Equal(9, body.GetProperty("prompt").GetArrayLength());
            Assert.Equal(6, body.GetProperty("max_tokens").GetInt32());
            Assert.True(body.GetProperty("ignore_eos").GetBoolean());
            Assert.True(body.GetProperty("stream").GetBoolean());
            Assert.True(body.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
            Assert.True(body.GetProperty("return_timeline").GetBoolean());
        }
        var sentPrompts = server.Bodies.Select(b => string.Join(',', b.GetProperty("prompt").EnumerateArray().Select(e => e.GetInt32()))).ToHashSet();
        Assert.Equal(requests.Select(r => string.Join(',', r.PromptTokenIds!)).ToHashSet(), sentPrompts);
    }

    [Fact]
    public async Task ChatEndpointAndChunkCountingWithoutUsage()
    {
        await using var server = await FakeOpenAiServer.StartAsync(Quick, sendUsage: false, sendTimeline: false);
        var requests = WorkloadGenerator.Generate(WorkloadSpec.Preset("fixed", 5, 4), 3, seed: 1);
        using var client = new OpenAiStreamingClient(Options(server, ApiEndpoint.ChatCompletions));
        var result = await BenchmarkRunner.RunAsync(client, requests, ArrivalProcess.Poisson(double.PositiveInfinity).ArrivalTimes(3, 1));
        Assert.All(result.Records, r =>
        {
            Assert.True(r.Success, r.Error);
            Assert.Equal(4, r.OutputTokens);
            Assert.False(r.OutputTokensFromUsage);
            Assert.Null(r.ServerTimeline);
        });
        Assert.All(server.Bodies, b =>
        {
            var message = b.GetProperty("messages")[0];
            Assert.Equal("user", message.GetProperty("role").GetString());
            Assert.Equal(5, message.GetProperty("content").GetString()!.Split(' ').Length);
        });
    }

    [Fact]
    public async Task DefaultModelIsTheFirstListed()
    {
        await using var server = await FakeOpenAiServer.StartAsync(Quick);
        Assert.Equal(FakeOpenAiServer.ModelName, await OpenAiStreamingClient.FirstModelAsync(server.BaseUrl));
    }

    [Fact]
    public async Task MaxConcurrencyHoldsRequestsInTheClient()
    {
        await using var server = await FakeOpenAiServer.StartAsync(Quick);
        var requests = WorkloadGenerator.Generate(WorkloadSpec.Preset("fixed", 4, 3), 6, seed: 1);
        using var client = new OpenAiStreamingClient(Options(server));
        var result = await BenchmarkRunner.RunAsync(client, requests, new double[6], maxConcurrency: 2);
        Assert.All(result.Records, r => Assert.True(r.Success, r.Error));
        // At most 2 in flight; the server may still count a request whose [DONE] the client already read, hence <= 2 before.
        Assert.All(server.InFlightAtArrival, n => Assert.InRange(n, 0, 2));
        // Everything arrived at 0; later requests waited for a slot, and TTFT from arrival counts that wait.
        var last = result.Records.MaxBy(r => r.SentAt)!;
        Assert.True(RequestMetrics.Ttft(last, LatencyOrigin.Arrival) > RequestMetrics.Ttft(last, LatencyOrigin.Send));
    }

    [Fact]
    public async Task FailuresAndTimeoutsAreRecordedAsSloMisses()
    {
        // Arrival 1: HTTP 503; arrival 2: never answers (client timeout); arrival 3: error event inside the stream.
        await using var server = await FakeOpenAiServer.StartAsync((others, arrival) => arrival switch
        {
            1 => new FakePlan(0, 0, FakeBehaviour.HttpError),
            2 => new FakePlan(0, 0, FakeBehaviour.Hang),
            3 => new FakePlan(0.01, 0.01, FakeBehaviour.StreamError),
            _ => new FakePlan(0.01, 0.03),
        });
        var requests = WorkloadGenerator.Generate(WorkloadSpec.Preset("fixed", 4, 3), 6, seed: 1);
        // Generous timeout: only the hanging request may reach it, even on a cold, loaded machine.
        using var client = new OpenAiStreamingClient(Options(server, timeout: 4.0));
        // Evenly spaced so the server's arrival numbers follow the workload order.
        var result = await BenchmarkRunner.RunAsync(client, requests, ArrivalProcess.Gamma(20, 0).ArrivalTimes(6, 0));

        Assert.Equal(6, result.Records.Count);
        var failed = result.Records.Where(r => !r.Success).ToList();
        Assert.True(failed.Count == 3, string.Join("; ", failed.Select(r => $"{r.Index}: {r.Error}")));
        Assert.Single(failed, r => r.HttpStatus == 503 && r.Error!.Contains("overloaded (fake)"));
        Assert.Single(failed, r => r.TimedOut && r.Error!.Contains("timed out"));
        Assert.Single(failed, r => r.Error!.Contains("engine failure (fake)"));

        var summary = MetricsCalculator.Summarize(result.Records, result.DurationSeconds, SloSpec.None);
        Assert.Equal(6, summary.Total);
        Assert.Equal(3, summary.Failed);
        Assert.Equal(1, summary.TimedOut);
        Assert.Equal(0.5, summary.SloAttainment, 12);
        Assert.All(failed, r => Assert.False(RequestMetrics.MeetsSlo(r, SloSpec.None)));
        Assert.Equal(3, summary.Ttft!.Count);
    }
}
