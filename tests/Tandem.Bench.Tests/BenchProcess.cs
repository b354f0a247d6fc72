using System.Diagnostics;

namespace Tandem.Bench.Tests;

/// <summary>Runs the built <c>Tandem.Bench</c> as its own process, as a user would, with a liveness bound.</summary>
internal static class BenchProcess
{
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var bench = Process.Start(new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Tandem.Bench.dll"), .. args])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var stdout = bench.StandardOutput.ReadToEndAsync(limit.Token);
        string stderr = await bench.StandardError.ReadToEndAsync(limit.Token);
        await bench.WaitForExitAsync(limit.Token);
        return (bench.ExitCode, await stdout, stderr);
    }
}
