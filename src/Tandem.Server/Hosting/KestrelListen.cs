using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Tandem.Server.Hosting;

/// <summary>
/// Where every Tandem process listens (API server and cluster workers alike): an IP address, localhost, or a host
/// name, resolved once at start and listened on at each of its addresses (as llama-server and vLLM take --host).
/// </summary>
internal static class KestrelListen
{
    public static void On(KestrelServerOptions k, string host, int port)
    {
        if (host is "localhost")
        {
            k.ListenLocalhost(port);
            return;
        }
        foreach (var ip in Resolve(host))
            k.Listen(ip, port);
    }

    internal static IReadOnlyList<IPAddress> Resolve(string host)
    {
        if (IPAddress.TryParse(host, out var ip))
            return [ip];
        if (Uri.CheckHostName(host) != UriHostNameType.Dns)
            throw new ArgumentException($"--host must be an IP address, localhost or a host name, got '{host}'");
        IPAddress[] addresses;
        try
        {
            addresses = Dns.GetHostAddresses(host);
        }
        catch (SocketException e)
        {
            throw new ArgumentException($"--host '{host}' does not resolve to an address: {e.Message}", e);
        }
        // One listener per address; an IPv4-mapped duplicate of an IPv4 address would fail to bind twice.
        var distinct = addresses.Select(a => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a).Distinct().ToArray();
        return distinct.Length > 0 ? distinct : throw new ArgumentException($"--host '{host}' resolves to no address");
    }
}
