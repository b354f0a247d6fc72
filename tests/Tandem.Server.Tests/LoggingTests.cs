using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Tandem.Server.Logging;

namespace Tandem.Server.Tests;

/// <summary>
/// <c>tandem serve</c>'s log: a structured line per finished request, vLLM's periodic throughput / queue line, the
/// level and format options (also from TANDEM_* variables), and ASP.NET Core's own lines kept at warning.
/// </summary>
public sealed class LoggingTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_finished_request_logs_one_line_and_the_stats_line_follows()
    {
        using var server = await ServeProcess.StartAsync("--log-stats-interval", "0.2");
        using var http = new HttpClient { BaseAddress = server.Address, Timeout = Limit };
        var reply = await http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 8));
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        string id = reply.Body.GetProperty("id").GetString()!;

        // Wait for a stats line after the request's line: the interval that saw it finish.
        string log = await WaitForAsync(server, s => s.Contains($"request {id} finished:") &&
            s.LastIndexOf("Avg prompt throughput:", StringComparison.Ordinal) > s.IndexOf($"request {id} finished:", StringComparison.Ordinal));
        var line = Assert.Single(Lines(log), l => l.Contains($"request {id} finished:"));
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info: Tandem\.Requests\[1\] ", line);
        Assert.Matches($@"finish_reason=length prompt_tokens={References.OnceUponATimePromptTokens} cached_tokens=0 output_tokens=8 " +
            @"ttft_ms=\d+(\.\d+)? tpot_ms=\d+(\.\d+)? e2e_ms=\d+(\.\d+)?$", line);
        // The request's tokens are counted in the intervals it ran in (with an interval of 0.2 s its prompt and its
        // generated tokens may fall in different lines, and the line that counts them may still see it running: a
        // single line holding both and "Running: 0" was a race that failed in the fresh-clone run); after it
        // finished, the queues are empty again.
        var lines = Lines(log).ToList();
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"info: Tandem\.Stats\[2\] Avg prompt throughput: [1-9]\d*\.\d tokens/s, "));
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"info: Tandem\.Stats\[2\] .*Avg generation throughput: [1-9]\d*\.\d tokens/s, "));
        int finished = lines.FindIndex(l => l.Contains($"request {id} finished:"));
        Assert.Matches(@"info: Tandem\.Stats\[2\] Avg prompt throughput: \d+\.\d tokens/s, Avg generation throughput: \d+\.\d tokens/s, " +
            @"Running: 0 reqs, Waiting: 0 reqs, KV cache usage: \d+\.\d%, Prefix cache hit rate: \d+\.\d%$",
            lines.Skip(finished + 1).Last(l => l.Contains("Tandem.Stats[2]")));
        // ASP.NET Core logs a line per HTTP request at info: kept out at the default level.
        Assert.DoesNotContain(Lines(log), l => l.Contains(" info: Microsoft.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Json_format_from_the_environment_makes_each_field_a_property()
    {
        using var server = await ServeProcess.StartAsync(new Dictionary<string, string> { ["TANDEM_LOG_FORMAT"] = "json", ["TANDEM_LOG_STATS_INTERVAL"] = "0" });
        using var http = new HttpClient { BaseAddress = server.Address, Timeout = Limit };
        var reply = await http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 4));
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        string id = reply.Body.GetProperty("id").GetString()!;

        string log = await WaitForAsync(server, s => s.Contains($"\"RequestId\":\"{id}\""));
        var entry = JsonDocument.Parse(Lines(log).Single(l => l.Contains($"\"RequestId\":\"{id}\""))).RootElement;
        Assert.Equal("Tandem.Requests", entry.GetProperty("Category").GetString());
        Assert.Equal("Information", entry.GetProperty("LogLevel").GetString());
        var state = entry.GetProperty("State");
        Assert.Equal("length", state.GetProperty("FinishReason").GetString());
        Assert.Equal(References.OnceUponATimePromptTokens.ToString(), state.GetProperty("PromptTokens").ToString());
        Assert.Equal("4", state.GetProperty("OutputTokens").ToString());
        Assert.True(double.Parse(state.GetProperty("TtftMs").ToString(), System.Globalization.CultureInfo.InvariantCulture) > 0);
    }

    [Theory]
    [InlineData(LogLevel.Information, true, false)]
    [InlineData(LogLevel.Warning, false, false)]
    [InlineData(LogLevel.Debug, true, true)]
    public void The_level_applies_to_tandem_and_keeps_aspnet_core_at_warning_unless_debugging(LogLevel level, bool requestLines, bool aspNetInfo)
    {
        using var factory = LoggerFactory.Create(b => ServerLogging.Configure(b, level, LogFormat.Text));
        Assert.Equal(requestLines, factory.CreateLogger("Tandem.Requests").IsEnabled(LogLevel.Information));
        Assert.Equal(aspNetInfo, factory.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(LogLevel.Information));
        Assert.True(factory.CreateLogger("Microsoft.AspNetCore.Server.Kestrel").IsEnabled(LogLevel.Warning));
    }

    private static string[] Lines(string log) => log.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static async Task<string> WaitForAsync(ServeProcess server, Func<string, bool> done)
    {
        var until = DateTime.UtcNow + Limit;
        while (!done(server.Stdout))
        {
            if (DateTime.UtcNow > until) Assert.Fail($"the log never showed the expected lines:\n{server.Stdout}\n{server.Stderr}");
            await Task.Delay(50);
        }
        return server.Stdout;
    }
}
