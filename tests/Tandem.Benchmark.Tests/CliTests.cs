using Tandem.Benchmark.Plots;
using Tandem.Benchmark.Reports;
using Tandem.Cli;

namespace Tandem.Benchmark.Tests;

/// <summary><c>tandem bench serve</c> and <c>tandem bench plot</c> through the real command line, against the fake server.</summary>
public class CliTests
{
    internal static (int Code, string Out, string Err) Run(params string[] args)
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

    [Fact]
    public async Task UrlAliasFixedLengthsTraceAndTokenizer()
    {
        await using var server = await FakeOpenAiServer.StartAsync((_, _) => new FakePlan(0.01, 0.03));
        string dir = TestPaths.NewTempDir();
        string a = Path.Combine(dir, "a.json");

        // --url is --base-url; fixed:IN:OUT sets both lengths.
        var (code, stdout, stderr) = Run("bench", "serve", "--url", server.BaseUrl.ToString(), "--workload", "fixed:8:3", "-n", "3",
            "--warmup", "0", "--slo-ttft", "10", "--slo-tpot", "10", "--out", a);
        Assert.True(code == 0, stderr);
        Assert.Contains("SLO attainment, TTFT only", stdout);
        Assert.Contains("SLO attainment, TPOT only", stdout);
        var report = BenchReportJson.Read(a);
        Assert.Equal(server.BaseUrl.ToString(), report.Config.BaseUrl);
        Assert.Equal("fixed:8:3", report.Config.Workload);
        Assert.All(report.Runs[0].Requests, q => Assert.Equal((8, 3, 3), (q.PromptTokens, q.OutputTokensRequested, q.OutputTokens)));
        Assert.All(server.Bodies, b => Assert.Equal(8, b.GetProperty("prompt").GetString()!.Split(' ').Length));
        Assert.Equal(1.0, report.Runs[0].Summary.SloAttainmentTtft);

        // A timed trace given with --trace, replayed at twice its pace, prompts as exact token ids.
        string trace = Path.Combine(dir, "trace.jsonl");
        File.WriteAllLines(trace, ["{\"input_len\": 5, \"output_len\": 2, \"arrival_time\": 0}", "{\"input_len\": 9, \"output_len\": 4, \"arrival_time\": 0.2}",
            "{\"input_len\": 3, \"output_len\": 1, \"arrival_time\": 0.4}"]);
        server.Bodies.Clear();
        (code, _, stderr) = Run("bench", "serve", "--url", server.BaseUrl.ToString(), "--trace", trace, "--token-ids", "--time-scale", "2",
            "--warmup", "0", "--out", a);
        Assert.True(code == 0, stderr);
        report = BenchReportJson.Read(a);
        Assert.Equal("trace", report.Config.Workload);
        Assert.Equal(3, report.Config.NumPrompts); // every row, not the default 100
        Assert.Equal(5.0, report.Config.TraceRate!.Value, 9);
        var run = Assert.Single(report.Runs);
        Assert.Equal(2.5, run.Rate, 9);
        Assert.Equal([0.0, 0.4, 0.8], run.Requests.Select(q => Math.Round(q.ScheduledS, 9)));
        Assert.Equal([(5, 2), (9, 4), (3, 1)], run.Requests.Select(q => (q.PromptTokens, q.OutputTokens)));
        Assert.Equal([(3, 1), (5, 2), (9, 4)], server.Bodies.Select(b => (b.GetProperty("prompt").GetArrayLength(), b.GetProperty("max_tokens").GetInt32())).Order());
        Assert.All(run.Requests, q => Assert.True(q.SentS >= q.ScheduledS)); // nothing goes before its arrival time

        // Text prompts of exact length with the model's tokenizer.
        string vocab = TestPaths.Vocab("ggml-vocab-gpt-2.gguf");
        var tokenizer = Workloads.ExactTextPromptBuilder.FromGguf(vocab);
        server.Bodies.Clear();
        (code, _, stderr) = Run("bench", "serve", "--url", server.BaseUrl.ToString(), "--workload", "fixed:21:2", "-n", "2", "--warmup", "0",
            "--tokenizer", vocab, "--out", a);
        Assert.True(code == 0, stderr);
        Assert.Equal(vocab, BenchReportJson.Read(a).Config.Tokenizer);
        Assert.All(server.Bodies, b => Assert.Equal(21, tokenizer.Count(b.GetProperty("prompt").GetString()!)));
    }

    [Theory]
    [InlineData("--workload", "fixed:8")]
    [InlineData("--workload", "fixed:8:4", "--input-len", "3")]
    [InlineData("--time-scale", "2", "--rate", "1")]
    [InlineData("--time-scale", "0")]
    [InlineData("--tokenizer", "/nonexistent/vocab.gguf")]
    [InlineData("--tokenizer", "/nonexistent/vocab.gguf", "--token-ids")]
    [InlineData("--trace", "/nonexistent/trace.jsonl", "--dataset", "/nonexistent/other.jsonl")]
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
