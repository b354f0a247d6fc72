using System.Diagnostics;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Tandem.Server.Tests;

/// <summary>
/// <c>tandem serve</c> as a real child process (<c>dotnet tandem.dll serve ...</c>, the CLI built beside the tests) on
/// port 0: the address is read from its "listening on" line. Signals go to it with kill(2), as an orchestrator sends
/// them. Disposing kills it if it is still running. Tandem.Cli.Tests links this file too (its serve tests).
/// </summary>
public sealed partial class ServeProcess : IDisposable, IAsyncDisposable
{
    private const int SigTerm = 15;
    private const int SigKill = 9;
    private const int SigStop = 19;
    private const int SigCont = 18;
    private static readonly TimeSpan StartLimit = TimeSpan.FromMinutes(2);

    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource<Uri> _address = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private HttpClient? _http;

    private ServeProcess(Process process) => _process = process;

    public Uri Address { get; private set; } = null!;

    /// <summary>A client for <see cref="Address"/>, made on first use and disposed with the process.</summary>
    public HttpClient Http => _http ??= new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromMinutes(2) };

    /// <summary>Standard error so far (the drain's "stopping:" and "stopped:" lines go there).</summary>
    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>Starts it on the test model (stories260K) unless the arguments give <c>--model</c>.</summary>
    public static Task<ServeProcess> StartAsync(params string[] arguments) => LaunchAsync([], NoEnvironment, arguments, TestModel);

    /// <summary>Starts with <paramref name="environment"/> added to this process's environment.</summary>
    public static Task<ServeProcess> StartAsync(IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        LaunchAsync([], environment.ToDictionary(e => e.Key, e => (string?)e.Value), arguments, TestModel);

    /// <summary>
    /// Starts it inside the network namespace <paramref name="netns"/> (<c>ip netns exec</c>, which execs it: the
    /// process is still tandem itself, and signals reach it).
    /// </summary>
    public static Task<ServeProcess> StartInNamespaceAsync(string netns, params string[] arguments) => LaunchAsync(["ip", "netns", "exec", netns], NoEnvironment, arguments, TestModel);

    /// <summary>
    /// Starts it with no test model added: the arguments, <paramref name="environment"/> (a null value removes that
    /// variable) and the CLI's own defaults decide, the bundled model included, as for a user.
    /// </summary>
    public static Task<ServeProcess> StartBareAsync(IReadOnlyDictionary<string, string?> environment, params string[] arguments) =>
        LaunchAsync([], environment, arguments, model: null);

    /// <summary>
    /// Starts it under <paramref name="launcher"/>, a program and its arguments that exec the command after them (e.g.
    /// setpriv dropping a capability): the process is still tandem itself.
    /// </summary>
    public static Task<ServeProcess> StartUnderAsync(string[] launcher, params string[] arguments) => LaunchAsync(launcher, NoEnvironment, arguments, TestModel);

    private static readonly Dictionary<string, string?> NoEnvironment = [];
    private static string TestModel => Tandem.Engine.Tests.TestPaths.Model("stories260K.gguf"); // TestRuntimes.ModelPath

    private static async Task<ServeProcess> LaunchAsync(string[] launcher, IReadOnlyDictionary<string, string?> environment, string[] arguments, string? model)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "tandem.dll");
        Assert.True(File.Exists(dll), $"{dll} is not beside the tests");
        string[] command = [.. launcher, "dotnet"];
        var psi = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        string[] modelArguments = model is null || arguments.Contains("--model") ? [] : ["--model", model];
        // Port 0 (a free one) unless the arguments, the environment or a configuration file may say another.
        bool portGiven = arguments.Contains("--port") || environment.ContainsKey("TANDEM_PORT") || environment.ContainsKey("TANDEM_CONFIG");
        string[] port = portGiven ? [] : ["--port", "0"];
        foreach (string a in (string[])[.. command[1..], dll, "serve", .. modelArguments, .. port, .. arguments]) psi.ArgumentList.Add(a);
        var server = new ServeProcess(Process.Start(psi)!);
        server.Pump();
        var started = await Task.WhenAny(server._address.Task, server._process.WaitForExitAsync(), Task.Delay(StartLimit));
        if (started != server._address.Task)
        {
            server.Dispose();
            Assert.Fail($"tandem serve did not start listening: {server.Stderr}");
        }
        server.Address = await server._address.Task;
        return server;
    }

    private void Pump()
    {
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_stdout) _stdout.AppendLine(e.Data);
            if (ListeningLine().Match(e.Data) is { Success: true } m) _address.TrySetResult(new Uri(m.Groups[1].Value));
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_stderr) _stderr.AppendLine(e.Data);
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>SIGTERM, what Kubernetes, systemd and docker stop send first.</summary>
    public void Terminate()
    {
        if (kill(_process.Id, SigTerm) != 0)
            throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>SIGKILL (kill -9): the process dies at once, no cleanup, connections reset.</summary>
    public void KillHard()
    {
        if (kill(_process.Id, SigKill) != 0)
            throw new InvalidOperationException($"kill({_process.Id}, SIGKILL) failed: errno {Marshal.GetLastPInvokeError()}");
        _process.WaitForExit();
    }

    /// <summary>SIGSTOP: the process stops running (a hung worker) until <see cref="Resume"/>.</summary>
    public void Pause()
    {
        if (kill(_process.Id, SigStop) != 0)
            throw new InvalidOperationException($"kill({_process.Id}, SIGSTOP) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume()
    {
        if (kill(_process.Id, SigCont) != 0)
            throw new InvalidOperationException($"kill({_process.Id}, SIGCONT) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The id <c>/v1/models</c> lists.</summary>
    public async Task<string?> ModelIdAsync() =>
        (await Http.GetFromJsonAsync<JsonElement>("/v1/models")).GetProperty("data")[0].GetProperty("id").GetString();

    /// <summary>The process id (the tandem process itself, also when started inside a network namespace).</summary>
    public int Pid => _process.Id;

    /// <summary>Standard output so far.</summary>
    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }

    /// <summary>The exit code, or a failed assertion when the process is still running after <paramref name="limit"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan limit)
    {
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"tandem serve still running {limit.TotalSeconds} s after SIGTERM; stderr: {Stderr}");
        }
        _process.WaitForExit(); // drains the redirected output
        return _process.ExitCode;
    }

    public void Dispose()
    {
        KillIfRunning();
        _process.Dispose();
    }

    /// <summary>As <see cref="Dispose"/>, after waiting for the killed process to be gone.</summary>
    public async ValueTask DisposeAsync()
    {
        if (KillIfRunning()) await _process.WaitForExitAsync();
        _process.Dispose();
    }

    /// <summary>Disposes the client and kills the process tree; whether it was still running.</summary>
    private bool KillIfRunning()
    {
        _http?.Dispose();
        try
        {
            if (_process.HasExited) return false;
            _process.Kill(entireProcessTree: true);
            return true;
        }
        catch (InvalidOperationException) // gone meanwhile
        {
            return false;
        }
    }

    [GeneratedRegex(@"listening on (http://\S+) \(")]
    private static partial Regex ListeningLine();

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
