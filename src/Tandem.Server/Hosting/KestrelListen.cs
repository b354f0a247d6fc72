using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Tandem.Server.Hosting;

/// <summary>Where every Tandem process listens (API server and cluster workers alike): an IP address or localhost, and a port.</summary>
internal static class KestrelListen
{
    public static void On(KestrelServerOptions k, string host, int port)
    {
        if (host is "localhost")
            k.ListenLocalhost(port);
        else if (IPAddress.TryParse(host, out var ip))
            k.Listen(ip, port);
        else
            throw new ArgumentException($"--host must be an IP address or localhost, got '{host}'");
    }
}
