using Tandem.Benchmark.Metrics;
using Tandem.Benchmark.Workloads;
using Tandem.Serving;

namespace Tandem.Benchmark.Tests;

/// <summary>The benchmark against a real Tandem server (disaggregated runtime on the shared tiny model).</summary>
[Collection(SerialCollection.Name)]
public class TandemServerTests
{
    [Fact]
    public async Task BenchmarksADisaggregatedTandemServerWithTimelines()
    {
        // Local prefill off: these 16-token prompts would otherwise be prefilled on the decode instance, with no transfer to time.
        await using var server = await LocalTandemServer.StartAsync(ServingMode.Disaggregated, localPrefillThreshold: 0);

        var report = await ServeBenchmark.RunAsync(new ServeBenchmarkOptions
        {
            BaseUrl = server.Address,
            Workload = "fixed",
            InputLength = 16,
            OutputLength = 8,
            NumPrompts = 6,
            // The model's vocabulary has 512 pieces; ids past the byte tokens are ordinary text pieces.
            PromptFormat = PromptFormat.TokenIds,
            TokenIdMin = 259,
            TokenIdMax = 512,
            Rates = [20, double.PositiveInfinity],
            Seed = 4,
            Devices = 2,
            Slo = SloSpec.None,
        });

        Assert.Equal("stories260K", report.Config.Model);
        Assert.Equal(2, report.Runs.Count);
        foreach (var run in report.Runs)
        {
            Assert.Equal(1.0, run.Summary.SloAttainment);
            Assert.Equal(6 * 8, run.Summary.OutputTokens);
            Assert.All(run.Requests, r =>
            {
                Assert.True(r.Success, r.Error);
                Assert.Equal(8, r.OutputTokens);
                Assert.True(r.OutputTokensFromUsage);
                Assert.Equal(16, r.PromptTokensReported);
                Assert.True(r.TtftS <= r.E2eS);
                var t = r.ServerTimeline!;
                Assert.Equal(8, t.TokenTimes.Count);
                Assert.True(t.Queue >= 0 && t.Prefill >= 0 && t.Transfer >= 0 && t.Decode >= 0);
            });
            var b = run.Summary.Breakdown!;
            Assert.Equal(6, b.Requests);
            Assert.NotNull(b.Transfer); // disaggregated: the KV cache moved between instances
        }
    }
}
