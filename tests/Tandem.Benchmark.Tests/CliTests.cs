using Tandem.Benchmark.Plots;
using Tandem.Benchmark.Reports;
using Tandem.Cli;

namespace Tandem.Benchmark.Tests;

/// <summary><c>tandem bench serve</c> and <c>tandem bench plot</c> through the real command line, against the fake server.</summary>
public class CliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Task.Run(() => TandemApp.Run(args, new CliConsole(stdout, stderr))).GetAwaiter().GetResult();
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task ServeWritesJsonCsvAndPlotsAndPlotDrawsSeveralReports()
    {
        await using var server = await FakeOpenAiServer.StartAsync((others, _) => new FakePlan(0.02 + 0.02 * others, 0.1 + 0.02 * others));
        string dir = TestPaths.NewTempDir();
        string a = Path.Combine(dir, "a.json"), b = Path.Combine(dir, "b.json"), csv = Path.Combine(dir, "a.csv");

        var (code, stdout, stderr) = Run("bench", "serve", "--base-url", server.BaseUrl.ToString(), "--workload", "code",
            "--input-len", "16", "--output-len", "4", "--output-cv", "0", "-n", "6", "--rates", "5,inf", "--seed", "3",
            "--slo-ttft", "0.08", "--slo-tpot", "1", "--per-core", "2", "--label", "system A", "--out", a, "--csv", csv, "--plots", dir);
        Assert.True(code == 0, stderr);
        Assert.Contains("SLO attainment", stdout);
        Assert.Contains("TTFT", stdout);
        Assert.Contains("system A", stdout);
        Assert.Contains("run: rate 5 req/s, 6 requests", stderr);

        var report = BenchReportJson.Read(a);
        Assert.Equal("system A", report.Config.Label);
        Assert.Equal(FakeOpenAiServer.ModelName, report.Config.Model); // found through /v1/models
        Assert.Equal([5.0, double.PositiveInfinity], report.Runs.Select(r => r.Rate));
        Assert.Equal(2.5, report.Runs[0].RatePerDevice);
        Assert.All(report.Runs, r =>
        {
            Assert.Equal(6, r.Requests.Count);
            Assert.All(r.Requests, q => Assert.Equal(4, q.OutputTokens));
            Assert.All(r.Requests, q => Assert.True(q.TtftS <= q.E2eS));
            Assert.Equal(r.Requests.Count(q => q.MeetsSlo) / 6.0, r.Summary.SloAttainment, 12);
        });
        Assert.Equal(13, File.ReadAllLines(csv).Length);
        Assert.Equal(CsvReport.RequestColumns.Length, File.ReadAllLines(csv)[1].Split(',').Length);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(dir, "a.runs.csv")).Length);
        PngAssert.IsPng(Path.Combine(dir, "latency-cdf.png"), BenchPlots.DefaultWidth * 2, BenchPlots.DefaultHeight);

        (code, _, stderr) = Run("bench", "serve", "--base-url", server.BaseUrl.ToString(), "--model", FakeOpenAiServer.ModelName,
            "--input-len", "8", "--output-len", "3", "-n", "4", "--rates", "2,8", "--cv", "2", "--token-ids",
            "--slo-ttft", "0.08", "--slo-tpot", "1", "--label", "system B", "--out", b);
        Assert.True(code == 0, stderr);

        string plots = Path.Combine(dir, "plots");
        (code, stdout, stderr) = Run("bench", "plot", a, b, "--out-dir", plots);
        Assert.True(code == 0, stderr);
        PngAssert.IsPng(Path.Combine(plots, "attainment.png"), BenchPlots.DefaultWidth, BenchPlots.DefaultHeight);
        PngAssert.IsPng(Path.Combine(plots, "latency-cdf.png"), BenchPlots.DefaultWidth * 2, BenchPlots.DefaultHeight);
        PngAssert.IsPng(Path.Combine(plots, "slo-scale.png"), BenchPlots.DefaultWidth, BenchPlots.DefaultHeight);
        Assert.Contains("attainment.png", stdout);
    }

    [Theory]
    [InlineData("--rate", "0")]
    [InlineData("--rates", "1,x")]
    [InlineData("--workload", "nope")]
    [InlineData("--measure-from", "later")]
    [InlineData("--goodput")] // no SLO
    public void BadOptionsAreRefusedBeforeAnyRequest(params string[] extra)
    {
        // Nothing listens on port 9: a request would fail differently from a usage error.
        var (code, _, stderr) = Run(["bench", "serve", "--base-url", "http://127.0.0.1:9", "--model", "m", .. extra]);
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", stderr);
        Assert.DoesNotContain("run:", stderr);
    }

    [Fact]
    public void UnreachableServerStopsAtTheWarmupWithOneError()
    {
        var (code, _, stderr) = Run("bench", "serve", "--base-url", "http://127.0.0.1:9", "--model", "m", "-n", "3", "--timeout", "5");
        Assert.Equal(1, code);
        Assert.StartsWith("error: warm-up request to http://127.0.0.1:9/ failed", stderr);
    }

    [Fact]
    public void PlotRefusesFilesThatAreNotReports()
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "x.json");
        File.WriteAllText(path, "{\"schema\": \"other\"}");
        var (code, _, stderr) = Run("bench", "plot", path);
        Assert.Equal(1, code);
        Assert.Contains("not a tandem bench report", stderr);
    }
}
