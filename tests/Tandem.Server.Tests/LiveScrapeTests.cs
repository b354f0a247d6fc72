using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Tandem.Engine.Tests;

namespace Tandem.Server.Tests;

/// <summary>
/// /metrics of a live server that served requests, checked three ways: its metric names, types and labels against the
/// golden file (what dashboards and alerts depend on), every metric the Grafana dashboard queries present, and
/// promtool's own check of the exposition.
/// </summary>
public sealed partial class LiveScrapeTests(ScrapeFixture fixture) : IClassFixture<ScrapeFixture>
{
    /// <summary>The golden file; TANDEM_UPDATE_GOLDEN=1 rewrites it from the live scrape (then review the diff).</summary>
    private static string GoldenPath => Path.Combine(TestPaths.RepoRoot, "tests", "Tandem.Server.Tests", "Golden", "metrics-shape.txt");
    private static string DashboardPath => Path.Combine(TestPaths.RepoRoot, "deploy", "grafana", "tandem-vllm.json");

    [Fact]
    public void Metric_names_types_and_labels_match_the_golden_file()
    {
        string shape = fixture.Scrape.Shape();
        if (Environment.GetEnvironmentVariable("TANDEM_UPDATE_GOLDEN") == "1") File.WriteAllText(GoldenPath, shape);
        Assert.Equal(File.ReadAllText(GoldenPath), shape);
    }

    [Fact]
    public void Every_metric_the_dashboard_queries_is_in_the_scrape()
    {
        var dashboard = JsonDocument.Parse(File.ReadAllText(DashboardPath)).RootElement;
        var queries = new List<string>();
        Collect(dashboard, queries);
        var used = queries.SelectMany(q => MetricName().Matches(q).Select(m => m.Value)).ToHashSet();
        Assert.True(used.Count >= 15, $"the dashboard's queries name only {used.Count} metrics: {string.Join(", ", used)}");
        var missing = used.Where(name => !fixture.Scrape.SampleNames.Contains(name)).Order().ToList();
        Assert.True(missing.Count == 0, $"the dashboard queries metrics /metrics does not have: {string.Join(", ", missing)}");
        // Every panel has a query, and the latency panels read the histograms' buckets.
        Assert.Contains(queries, q => q.Contains("histogram_quantile(0.99, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket", StringComparison.Ordinal));
    }

    /// <summary>The "expr" of every target and the "query" of every templating variable, wherever they are nested.</summary>
    private static void Collect(JsonElement e, List<string> queries)
    {
        if (e.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in e.EnumerateObject())
            {
                if (p.Name is "expr" or "definition" && p.Value.ValueKind == JsonValueKind.String) queries.Add(p.Value.GetString()!);
                else Collect(p.Value, queries);
            }
        }
        else if (e.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in e.EnumerateArray()) Collect(item, queries);
        }
    }

    /// <summary>
    /// promtool's lint, where it is installed (.ci/run fetches it from Debian's prometheus package). It may only object
    /// to the names as they are: colons (reserved for recording rules, and in every vllm:* name) and the gauge
    /// tandem:kv_blocks_total; anything else (a parse error, a bad histogram, a missing HELP, a counter without _total)
    /// fails.
    /// </summary>
    [SkippableFact]
    public async Task Promtool_checks_the_scrape()
    {
        string? promtool = FindOnPath("promtool");
        Skip.If(promtool is null, "SKIP: promtool is not on PATH (.ci/run fetches it from Debian's prometheus package; the mirror was unreachable or this run did not go through .ci/run)");
        var psi = new ProcessStartInfo(promtool!, ["check", "metrics"]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(fixture.Scrape.Text);
        process.StandardInput.Close();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(limit.Token);
        string report = await output + await error;
        Assert.True(process.ExitCode is 0 or 3, $"promtool failed ({process.ExitCode}): {report}"); // 3: lint findings, listed below
        string[] accepted =
        [
            @"^\S+ metric names should not contain ':'$",
            // A gauge (an instance's pool size) whose name dashboards already use: kept, as vLLM's own names are.
            @"^tandem:kv_blocks_total non-counter metrics should not have ""_total"" suffix$",
        ];
        var problems = report.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(line => !accepted.Any(a => Regex.IsMatch(line, a))).ToList();
        Assert.True(problems.Count == 0, $"promtool found problems:\n{string.Join("\n", problems)}");
    }

    private static string? FindOnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, tool)).FirstOrDefault(File.Exists);

    [GeneratedRegex(@"\b(vllm|tandem):[a-zA-Z0-9_]+")]
    private static partial Regex MetricName();
}

/// <summary>
/// A disaggregated server after a completion, a chat call and an error, and one scrape of its /metrics. Local prefill
/// is off so that both requests move their KV and the transfer metrics are in the scrape.
/// </summary>
public sealed class ScrapeFixture : IAsyncLifetime
{
    private RunningServer _server = null!;

    public MetricsExposition Scrape { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _server = await RunningServer.StartAsync(localPrefillThreshold: 0);
        var reply = await _server.Http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 8));
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        var chat = new System.Text.Json.Nodes.JsonObject
        {
            ["model"] = RunningServer.ModelName,
            ["messages"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["role"] = "user", ["content"] = "Once upon a time" }),
            ["max_tokens"] = 4,
        };
        Assert.Equal(HttpStatusCode.OK, (await _server.Http.PostAsync("/v1/chat/completions", chat)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await _server.Http.PostAsync("/v1/nothing", "{}")).Status);
        // A finished request's metrics may trail its answer by a moment; the KV transfer count is the last recorded.
        string text = "";
        for (int attempt = 0; attempt < 200; attempt++)
        {
            text = await _server.Http.GetStringAsync("/metrics");
            if (text.Contains("tandem:kv_transfers_total{model_name=\"stories260K\"} 2\n", StringComparison.Ordinal)) break;
            await Task.Delay(50);
        }
        Scrape = MetricsExposition.Parse(text);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();
}
