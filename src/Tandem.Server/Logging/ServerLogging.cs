using Microsoft.Extensions.Logging;

namespace Tandem.Server.Logging;

/// <summary>How log lines are written: text, one line each, or one JSON object per line (for log shippers).</summary>
public enum LogFormat { Text, Json }

/// <summary>The console logging of <see cref="TandemServer"/> and cluster workers: --log-level and --log-format.</summary>
internal static class ServerLogging
{
    private const string UtcTimestamp = "yyyy-MM-ddTHH:mm:ss.fffZ";

    /// <summary>
    /// One line per entry with a UTC timestamp at <paramref name="level"/> and above. ASP.NET Core's and the host's own
    /// categories (a line per HTTP request at Information) stay at Warning unless the level asks for more detail than
    /// Information (debug, trace), where they follow it.
    /// </summary>
    public static void Configure(ILoggingBuilder logging, LogLevel level, LogFormat format)
    {
        logging.ClearProviders();
        if (format == LogFormat.Json)
            logging.AddJsonConsole(o => { o.UseUtcTimestamp = true; o.TimestampFormat = UtcTimestamp; });
        else
            logging.AddSimpleConsole(o => { o.SingleLine = true; o.UseUtcTimestamp = true; o.TimestampFormat = UtcTimestamp + " "; });
        logging.SetMinimumLevel(level);
        var framework = level < LogLevel.Information ? level : (LogLevel)Math.Max((int)level, (int)LogLevel.Warning);
        foreach (var category in (string[])["Microsoft", "System", "Grpc"])
            logging.AddFilter(category, framework);
    }
}
