using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using Tandem.Server.Logging;

namespace Tandem.Server;

/// <summary>Where and how a <see cref="TandemServer"/> listens.</summary>
public sealed class TandemServerOptions
{
    /// <summary>An IP address, localhost, or a name resolved at start (listening on each address it resolves to).</summary>
    public string Host { get; set; } = "127.0.0.1";
    /// <summary>0 picks a free port (tests); read <see cref="TandemServer.Address"/> after start.</summary>
    public int Port { get; set; } = 8000;
    public TandemApiOptions Api { get; set; } = new();
    /// <summary>API keys, allowed Host names and CORS origins (all off by default).</summary>
    public TandemAccessOptions Access { get; set; } = new();
    /// <summary>
    /// Lowest level logged (--log-level): Information writes a line per finished request and the periodic stats line.
    /// ASP.NET Core's own categories stay at Warning unless this is Debug or Trace.
    /// </summary>
    public LogLevel LogLevel { get; set; } = LogLevel.Information;
    /// <summary>Text (one line per entry) or JSON (one object per line, each message field a property).</summary>
    public LogFormat LogFormat { get; set; } = LogFormat.Text;
    /// <summary>
    /// The OTLP collector spans go to (--otlp-endpoint); null: the OTEL_EXPORTER_OTLP_ENDPOINT variable's, or none
    /// (no tracing at all). See <see cref="Telemetry.OtlpTracing"/>.
    /// </summary>
    public Uri? OtlpEndpoint { get; set; }
    /// <summary>
    /// Slowest a request body may arrive before it is refused with 408; null keeps Kestrel's default (240 bytes/s
    /// after a 5 s grace period).
    /// </summary>
    public MinDataRate? MinRequestBodyDataRate { get; set; }
}
