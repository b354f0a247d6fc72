using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Tandem.Server.Hosting;

/// <summary>
/// Tells the server's own warm-up calls (<see cref="ServingWarmUp"/>) from clients' ones, so that they leave nothing a
/// client or an operator sees: no /metrics count, no request log line, no trace span, no re-planner traffic. A call is
/// a warm-up one only when it carries this process's secret (32 random bytes made at start, never written anywhere)
/// and comes from this host to itself (the connection's two ends have the same address): a client cannot forge it, and
/// a header a client sends with a wrong value is simply an ordinary request.
/// </summary>
internal static class WarmUpRequest
{
    public const string Header = "X-Tandem-Warmup";

    private static readonly byte[] Secret = Encoding.ASCII.GetBytes(Convert.ToHexString(RandomNumberGenerator.GetBytes(32)));
    private static readonly object Marker = new();

    /// <summary>The header value the warm-up client sends.</summary>
    internal static string Value => Encoding.ASCII.GetString(Secret);

    /// <summary>
    /// Whether <paramref name="context"/> is a warm-up call: decided on first use and kept with the request (the
    /// tracing filter asks before any middleware ran, the endpoints and the response counter after).
    /// </summary>
    public static bool IsWarmUp(HttpContext context)
    {
        if (context.Items.TryGetValue(Marker, out var known))
            return (bool)known!;
        bool warmUp = Check(context);
        context.Items[Marker] = warmUp;
        return warmUp;
    }

    private static bool Check(HttpContext context)
    {
        if (!context.Request.Headers.TryGetValue(Header, out var values) || values.Count != 1 || values[0] is not { } value)
            return false;
        var connection = context.Connection;
        if (connection.RemoteIpAddress is not { } remote || connection.LocalIpAddress is not { } local)
            return false;
        if (!Normalize(remote).Equals(Normalize(local)))
            return false;
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(value), Secret);
    }

    private static System.Net.IPAddress Normalize(System.Net.IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;
}
