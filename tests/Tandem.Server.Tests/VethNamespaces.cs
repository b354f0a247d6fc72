using System.Diagnostics;
using System.Text.Json;

namespace Tandem.Server.Tests;

/// <summary>
/// Two Linux network namespaces, "prefill" and "decode", joined by a veth pair (10.N.2.1 ↔ 10.N.2.2), so traffic
/// between a process in each crosses a real network interface; and a second veth pair from this process's namespace
/// into "prefill" (10.N.1.1 ↔ 10.N.1.2), through which the test reaches a frontend started there, and, through
/// forwarding inside the prefill namespace, the decode namespace (for its worker's /health). The host's own
/// forwarding setting is left alone; its one added route goes with its veth. Names carry this process's id so
/// parallel runs do not collide. Disposing deletes both namespaces (which destroys the veths in them and their
/// peers); stop the processes in them first.
/// </summary>
public sealed class VethNamespaces : IDisposable
{
    private static readonly TimeSpan CommandLimit = TimeSpan.FromSeconds(10);
    private readonly string _rootVeth;
    private readonly int _subnet;

    private VethNamespaces(int id)
    {
        Prefill = $"tandem-test-{id}-p";
        Decode = $"tandem-test-{id}-d";
        _rootVeth = $"tt{id}r";
        FrontendVeth = $"tt{id}f";
        PrefillVeth = $"tt{id}p";
        DecodeVeth = $"tt{id}d";
        _subnet = 20 + id % 200;
        HostAddress = $"10.{_subnet}.1.1";
        FrontendAddress = $"10.{_subnet}.1.2";
        PrefillAddress = $"10.{_subnet}.2.1";
        DecodeAddress = $"10.{_subnet}.2.2";
    }

    public string Prefill { get; }
    public string Decode { get; }
    /// <summary>In the prefill namespace, towards this process's namespace.</summary>
    public string FrontendVeth { get; }
    /// <summary>The link between the namespaces: its prefill end and its decode end.</summary>
    public string PrefillVeth { get; }
    public string DecodeVeth { get; }
    /// <summary>This process's end of the link into the prefill namespace.</summary>
    public string HostAddress { get; }
    /// <summary>The prefill namespace's address on that link (where the test reaches a frontend).</summary>
    public string FrontendAddress { get; }
    public string PrefillAddress { get; }
    public string DecodeAddress { get; }

    /// <summary>Creates the namespaces and links, or returns null and why not (not Linux, no <c>ip</c>, not permitted).</summary>
    public static VethNamespaces? TryCreate(out string whyNot)
    {
        whyNot = "";
        if (!OperatingSystem.IsLinux()) { whyNot = "network namespaces are Linux only"; return null; }
        var n = new VethNamespaces(Environment.ProcessId);
        try
        {
            n.Ip("netns", "add", n.Prefill);
            n.Ip("netns", "add", n.Decode);
            n.Ip("link", "add", n._rootVeth, "type", "veth", "peer", "name", n.FrontendVeth, "netns", n.Prefill);
            n.Ip("link", "add", n.PrefillVeth, "netns", n.Prefill, "type", "veth", "peer", "name", n.DecodeVeth, "netns", n.Decode);
            n.Ip("addr", "add", $"{n.HostAddress}/24", "dev", n._rootVeth);
            n.Ip("link", "set", n._rootVeth, "up");
            foreach (var (ns, veth, address) in new[] { (n.Prefill, n.FrontendVeth, n.FrontendAddress), (n.Prefill, n.PrefillVeth, n.PrefillAddress), (n.Decode, n.DecodeVeth, n.DecodeAddress) })
            {
                n.Ip("-n", ns, "addr", "add", $"{address}/24", "dev", veth);
                n.Ip("-n", ns, "link", "set", veth, "up");
                n.Ip("-n", ns, "link", "set", "lo", "up");
            }
            n.Ip("route", "add", $"10.{n._subnet}.2.0/24", "via", n.FrontendAddress, "dev", n._rootVeth);
            n.Ip("netns", "exec", n.Prefill, "sysctl", "-qw", "net.ipv4.ip_forward=1");
            n.Ip("-n", n.Decode, "route", "add", $"10.{n._subnet}.1.0/24", "via", n.PrefillAddress);
            return n;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            whyNot = $"cannot create network namespaces and veth pairs here ({e.Message})";
            n.Dispose();
            return null;
        }
    }

    /// <summary>Bytes received so far on <paramref name="veth"/> in namespace <paramref name="netns"/> (the kernel's counter).</summary>
    public long ReceivedBytes(string netns, string veth)
    {
        var link = JsonDocument.Parse(Ip("-j", "-s", "-n", netns, "link", "show", "dev", veth)).RootElement[0];
        return link.GetProperty("stats64").GetProperty("rx").GetProperty("bytes").GetInt64();
    }

    private string Ip(params string[] arguments)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(CommandLimit))
        {
            p.Kill();
            throw new InvalidOperationException($"ip {string.Join(' ', arguments)} did not finish in {CommandLimit.TotalSeconds} s");
        }
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"ip {string.Join(' ', arguments)} failed ({p.ExitCode}): {stderr.Result.Trim()}");
        return stdout.Result;
    }

    public void Dispose()
    {
        // Deleting a namespace destroys the interfaces in it, and a veth's peer goes with it; the host-side veth is
        // deleted on its own too in case the prefill namespace was never made.
        foreach (var args in new[] { new[] { "netns", "del", Prefill }, ["netns", "del", Decode], ["link", "del", _rootVeth] })
        {
            try { Ip(args); }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception) { }
        }
    }
}
