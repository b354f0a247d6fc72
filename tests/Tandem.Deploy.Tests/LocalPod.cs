using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using k8s.Models;

namespace Tandem.Deploy.Tests;

/// <summary>
/// A pod's container run as a local process, as the kubelet would start it from the image: the command is the
/// container's <c>command</c> or else the Dockerfile's ENTRYPOINT, the arguments its <c>args</c> or else the CMD, in
/// the image's WORKDIR (here the folder the CLI is built in), with the image's environment. Only what a pod has and this machine lacks is
/// translated: mount paths become their local folders, each container port a free loopback port (and "--port N" the
/// same), "--host 0.0.0.0" loopback, Service addresses the local pods behind them, Secret references their local
/// values. The probes are sent where the kubelet would send them: the path on the container port they name.
/// </summary>
internal sealed partial class LocalPod : IDisposable
{
    private static readonly TimeSpan ReadyLimit = TimeSpan.FromMinutes(2);
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly IReadOnlyDictionary<int, int> _ports;

    private LocalPod(string deployment, V1Container container, Process process, IReadOnlyDictionary<int, int> ports, IReadOnlyList<string> argv)
    {
        Deployment = deployment;
        Container = container;
        _process = process;
        _ports = ports;
        CommandLine = argv;
    }

    public string Deployment { get; }

    public V1Container Container { get; }

    /// <summary>The command line as started, after translation.</summary>
    public IReadOnlyList<string> CommandLine { get; }

    /// <summary>Standard output and error so far, interleaved.</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>The local port standing in for a container port, given by number or by name as probes and Services give it.</summary>
    public int LocalPort(IntOrString port)
    {
        var declared = Container.Ports?.SingleOrDefault(p => p.Name == port.Value || p.ContainerPort.ToString() == port.Value)
            ?? throw new InvalidOperationException($"{Deployment}: container {Container.Name} declares no port {port.Value}");
        return _ports[declared.ContainerPort];
    }

    public static LocalPod Start(string deployment, V1PodSpec spec, LocalCluster cluster)
    {
        var container = spec.Containers[0];
        var mounts = new List<(string ContainerPath, string HostPath)> { (cluster.Image.WorkDir, DeployPaths.AppDir) };
        foreach (var mount in container.VolumeMounts ?? [])
        {
            var volume = spec.Volumes?.SingleOrDefault(v => v.Name == mount.Name)
                ?? throw new InvalidOperationException($"{deployment}: volumeMount {mount.Name} names no volume of the pod");
            mounts.Add((mount.MountPath, cluster.VolumeFolder(volume)));
        }
        var ports = (container.Ports ?? []).ToDictionary(p => p.ContainerPort, _ => LocalCluster.FreePort());

        IList<string> command = container.Command ?? cluster.Image.Entrypoint.ToList();
        IList<string> args = container.Args ?? (container.Command is null ? cluster.Image.Cmd.ToList() : []);
        var argv = new List<string>();
        foreach (string a in command.Concat(args))
            argv.Add(Translate(a, argv.Count > 0 ? argv[^1] : null, deployment, ports, mounts, cluster));

        var psi = new ProcessStartInfo(argv[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = DeployPaths.AppDir };
        foreach (string a in argv.Skip(1)) psi.ArgumentList.Add(a);
        foreach (var (key, value) in cluster.Image.Environment) psi.Environment[key] = value;
        foreach (var env in container.Env ?? [])
            psi.Environment[env.Name] = env.ValueFrom?.SecretKeyRef is { } secret ? cluster.Secret(secret)
                : env.ValueFrom is null ? env.Value ?? ""
                : throw new InvalidOperationException($"{deployment}: env {env.Name} comes from a source not stood in for here");
        var pod = new LocalPod(deployment, container, Process.Start(psi)!, ports, argv);
        pod.Pump();
        return pod;
    }

    private static string Translate(string arg, string? previous, string deployment, Dictionary<int, int> ports,
        List<(string ContainerPath, string HostPath)> mounts, LocalCluster cluster)
    {
        if (previous == "--port")
        {
            if (!int.TryParse(arg, out int port) || !ports.TryGetValue(port, out int local))
                throw new InvalidOperationException($"{deployment}: --port {arg} is no containerPort the container declares ({string.Join(", ", ports.Keys)})");
            return local.ToString();
        }
        if (previous == "--host" && arg is "0.0.0.0" or "::")
            return "127.0.0.1";
        foreach (var (containerPath, hostPath) in mounts)
            if (arg.StartsWith(containerPath.TrimEnd('/') + "/", StringComparison.Ordinal))
                return Path.Combine(hostPath, arg[(containerPath.TrimEnd('/').Length + 1)..]);
        // A list of service addresses (--prefill-workers a:9000,b:9000) becomes the local pods behind each.
        if (ServiceAddress().IsMatch(arg))
        {
            var resolved = new List<string>();
            foreach (string item in arg.Split(','))
            {
                var m = ServiceAddress().Match(item);
                var local = m.Success ? cluster.Resolve(m.Groups[1].Value, int.Parse(m.Groups[2].Value)) : null;
                if (local is null) return arg; // not a list of our Services: left as written
                resolved.AddRange(local);
            }
            return string.Join(',', resolved);
        }
        return arg;
    }

    private void Pump()
    {
        void Append(string? line)
        {
            if (line is null) return;
            lock (_output) _output.AppendLine(line);
        }
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>The status code a probe gets now, or null when nothing answers (connection refused, timeout).</summary>
    public async Task<HttpStatusCode?> ProbeAsync(V1Probe probe)
    {
        var get = probe.HttpGet ?? throw new InvalidOperationException($"{Deployment}: only httpGet probes are sent here");
        Assert.True(get.Scheme is null or "HTTP", $"{Deployment}: probe scheme {get.Scheme}");
        try
        {
            using var response = await Http.GetAsync($"http://127.0.0.1:{LocalPort(get.Port)}{get.Path}");
            return response.StatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>Sends a probe until it answers 200, as the kubelet does until the pod is ready; fails when the process exits or two minutes pass.</summary>
    public async Task WaitUntilAsync(V1Probe probe, string what)
    {
        var limit = Stopwatch.StartNew();
        HttpStatusCode? last = null;
        while (limit.Elapsed < ReadyLimit)
        {
            if (_process.HasExited)
                Assert.Fail($"{Deployment} exited with {_process.ExitCode} before its {what} probe passed ({string.Join(' ', CommandLine)}):\n{Output}");
            last = await ProbeAsync(probe);
            if (last == HttpStatusCode.OK) return;
            // The server answers but has no such path: the probe would fail for ever.
            if (last == HttpStatusCode.NotFound)
                Assert.Fail($"{Deployment}: {what} probe {probe.HttpGet?.Path} is 404, a path the server does not serve:\n{Output}");
            await Task.Delay(100);
        }
        Assert.Fail($"{Deployment}: {what} probe {probe.HttpGet?.Path} still {last?.ToString() ?? "unanswered"} after {ReadyLimit.TotalSeconds} s:\n{Output}");
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }

    /// <summary>host:port, the host a DNS name (as Services are reached), possibly one of a comma-separated list.</summary>
    [GeneratedRegex(@"^([a-z][a-z0-9.-]*):(\d+)(?:,|$)")]
    private static partial Regex ServiceAddress();
}
