using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Tandem.Server;
using Tandem.Server.Logging;
using Tandem.Server.Telemetry;

namespace Tandem.Cli.Commands;

/// <summary>
/// <c>tandem serve</c>'s observability options: the log level and format, the periodic stats line, and where traces go
/// (OTLP), read into <see cref="TandemServerOptions"/> (a cluster worker takes the same ones).
/// </summary>
internal sealed class ObservabilityArguments
{
    private static readonly string[] Levels = ["trace", "debug", "info", "warning", "error", "critical"];

    public Option<string> LogLevel { get; } = new("--log-level")
    {
        Description = "Lowest level logged: trace, debug, info (a line per finished request, and the periodic stats line), warning, error or critical. ASP.NET Core's own lines stay at warning unless this is debug or trace",
        DefaultValueFactory = _ => "info",
    };
    public Option<string> LogFormat { get; } = new("--log-format")
    {
        Description = "text: one line per entry. json: one JSON object per line, each field of the message a property (for log shippers)",
        DefaultValueFactory = _ => "text",
    };
    public Option<double> StatsInterval { get; } = new("--log-stats-interval")
    {
        Description = "Seconds between the throughput / queue / KV cache lines (like vLLM's \"Avg prompt throughput ...\"), written while there is activity (0: never)",
        DefaultValueFactory = _ => new TandemApiOptions().StatsLogInterval!.Value.TotalSeconds,
    };
    public Option<string?> OtlpEndpoint { get; } = new("--otlp-endpoint", "--otlp-traces-endpoint")
    {
        Description = $"Send traces (a span per request, with its queue, prefill, KV transfer and decode) to this OpenTelemetry collector, e.g. http://localhost:4317 (OTLP over gRPC; OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf for http://localhost:4318). Default: ${OtlpTracing.EndpointVariable}; neither: no tracing",
    };

    public Option<string?> StepLog { get; } = new("--step-log")
    {
        Description = "Write every engine step of every instance to this file as JSON lines, appended each second and completed at shutdown: "
            + "its wall and CPU time, time waiting for a core, batch composition (decode sequences and their context, prompt chunks), "
            + "preemptions, gaps between steps, allocation and GC. Replay the batches alone with Tandem.Bench steps --replay FILE "
            + "(docs/performance.md, \"Server step against bench step\"). --role all only",
    };

    /// <summary>Steps each instance's ring holds with --step-log: many times what a loop runs between two writes of the file.</summary>
    public const int StepLogRing = 1 << 14;

    public ObservabilityArguments()
    {
        LogLevel.AcceptOnlyFromAmong(Levels);
        LogFormat.AcceptOnlyFromAmong("text", "json");
    }

    public IEnumerable<Option> All => [LogLevel, LogFormat, StatsInterval, OtlpEndpoint, StepLog];

    public void Apply(ParseResult parse, TandemServerOptions server)
    {
        server.LogLevel = parse.GetValue(LogLevel) switch
        {
            "trace" => Microsoft.Extensions.Logging.LogLevel.Trace,
            "debug" => Microsoft.Extensions.Logging.LogLevel.Debug,
            "warning" => Microsoft.Extensions.Logging.LogLevel.Warning,
            "error" => Microsoft.Extensions.Logging.LogLevel.Error,
            "critical" => Microsoft.Extensions.Logging.LogLevel.Critical,
            _ => Microsoft.Extensions.Logging.LogLevel.Information,
        };
        server.LogFormat = parse.GetValue(LogFormat) == "json" ? Server.Logging.LogFormat.Json : Server.Logging.LogFormat.Text;
        double seconds = parse.GetValue(StatsInterval);
        if (!(seconds >= 0 && seconds <= 86400))
            throw new CliUsageException($"--log-stats-interval must be between 0 and 86400 seconds, got {seconds.ToString(CultureInfo.InvariantCulture)}");
        server.Api.StatsLogInterval = seconds == 0 ? null : TimeSpan.FromSeconds(seconds);
        if (parse.GetValue(OtlpEndpoint) is { } endpoint)
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                throw new CliUsageException($"--otlp-endpoint must be an http:// or https:// URL (e.g. http://localhost:4317), got '{endpoint}'");
            server.OtlpEndpoint = uri;
        }
    }
}
