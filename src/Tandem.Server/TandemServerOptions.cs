using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

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
    /// <summary>ASP.NET Core's own log level (request failures are logged at Error).</summary>
    public LogLevel LogLevel { get; set; } = LogLevel.Warning;
    /// <summary>
    /// Slowest a request body may arrive before it is refused with 408; null keeps Kestrel's default (240 bytes/s
    /// after a 5 s grace period).
    /// </summary>
    public MinDataRate? MinRequestBodyDataRate { get; set; }
}
