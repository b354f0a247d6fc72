using System.Diagnostics;
using System.Text;

namespace Tandem.Cli.Tests;

/// <summary>A finished child process: its exit code and what it wrote.</summary>
public sealed record CliRun(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs real processes (the built CLI, or a shell command line) with a time limit; a process past it is killed.</summary>
public static class CliProcess
{
    /// <summary><c>dotnet tandem.dll ARGS</c>, the CLI built beside the tests, with extra environment variables.</summary>
    public static Task<CliRun> TandemAsync(IReadOnlyDictionary<string, string?> environment, TimeSpan limit, params string[] arguments)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "tandem.dll");
        Assert.True(File.Exists(dll), $"{dll} is not beside the tests");
        return RunAsync("dotnet", [dll, .. arguments], AppContext.BaseDirectory, environment, limit);
    }

    /// <summary>A command line as a user types it, through bash, in <paramref name="directory"/>.</summary>
    /// <remarks>
    /// The MSBuild variables <c>dotnet test</c> sets for its own build are cleared, so a nested build is a user's;
    /// node reuse and the shared compiler are off, so no build server outlives the test.
    /// </remarks>
    public static Task<CliRun> ShellAsync(string commandLine, string directory, TimeSpan limit)
    {
        var environment = Environment.GetEnvironmentVariables().Keys.Cast<string>()
            .Where(n => n.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || n.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase))
            .ToDictionary(n => n, _ => (string?)null);
        environment["MSBUILDDISABLENODEREUSE"] = "1";
        environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        environment["UseSharedCompilation"] = "false";
        return RunAsync("bash", ["-c", commandLine], directory, environment, limit);
    }

    public static async Task<CliRun> RunAsync(string program, IReadOnlyList<string> arguments, string directory,
        IReadOnlyDictionary<string, string?> environment, TimeSpan limit)
    {
        var psi = new ProcessStartInfo(program)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in arguments) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (name, value) in environment)
        {
            if (value is null) psi.Environment.Remove(name);
            else psi.Environment[name] = value;
        }
        using var process = Process.Start(psi)!;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Assert.Fail($"{program} {string.Join(' ', arguments)} still running after {limit.TotalSeconds} s; stderr: {stderr}");
        }
        process.WaitForExit(); // drains the redirected output
        lock (stdout) lock (stderr) return new CliRun(process.ExitCode, stdout.ToString(), stderr.ToString());
    }
}
