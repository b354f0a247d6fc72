using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Tandem.Cli.Tests;

/// <summary>
/// <c>tandem serve</c> as a child process (the CLI built beside the tests) on port 0 unless told otherwise, with the
/// given environment; the address comes from its "listening on" line. Disposing kills it.
/// </summary>
public sealed partial class ServeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource<Uri> _address = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServeProcess(Process process) => _process = process;

    public HttpClient Http { get; private set; } = null!;
    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }
    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    public static async Task<ServeProcess> StartAsync(IReadOnlyDictionary<string, string?> environment, string[] arguments)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        string[] port = arguments.Contains("--port") || environment.ContainsKey("TANDEM_PORT") || environment.ContainsKey("TANDEM_CONFIG") ? [] : ["--port", "0"];
        foreach (string a in (string[])[Path.Combine(AppContext.BaseDirectory, "tandem.dll"), "serve", .. port, .. arguments]) psi.ArgumentList.Add(a);
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        var server = new ServeProcess(Process.Start(psi)!);
        server._process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (server._stdout) server._stdout.AppendLine(e.Data);
            if (ListeningLine().Match(e.Data) is { Success: true } m) server._address.TrySetResult(new Uri(m.Groups[1].Value));
        };
        server._process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (server._stderr) server._stderr.AppendLine(e.Data); };
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();
        var started = await Task.WhenAny(server._address.Task, server._process.WaitForExitAsync(), Task.Delay(TimeSpan.FromMinutes(2)));
        if (started != server._address.Task)
        {
            await server.DisposeAsync();
            Assert.Fail($"tandem serve did not start listening: {server.Stderr}");
        }
        server.Http = new HttpClient { BaseAddress = await server._address.Task, Timeout = TimeSpan.FromMinutes(2) };
        return server;
    }

    /// <summary>The id <c>/v1/models</c> lists.</summary>
    public async Task<string?> ModelIdAsync() =>
        (await Http.GetFromJsonAsync<JsonElement>("/v1/models")).GetProperty("data")[0].GetProperty("id").GetString();

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }

    [GeneratedRegex(@"listening on (http://\S+) \(")]
    private static partial Regex ListeningLine();
}
