namespace Tandem.Cli.Tests;

/// <summary>
/// Issue 9's cold start: a one-shot <c>tandem generate</c> runs its whole request in a new process, so the CLI's
/// runtime settings must have the engine compiled optimised at its first call, not as tier-0 code (or on-stack
/// replacement of it) that tiered compilation replaces only after the request is half over.
/// </summary>
public sealed class ColdStartTests
{
    [Fact]
    public async Task The_built_cli_compiles_every_method_of_tandem_optimised_at_its_first_call()
    {
        // The JIT's own list of what it compiled and at which tier (the release runtime writes it with these two).
        string log = Path.Combine(Path.GetTempPath(), $"tandem-jit-{Guid.NewGuid():N}.txt");
        try
        {
            var run = await CliProcess.TandemAsync(
                new Dictionary<string, string?> { ["DOTNET_JitDisasmSummary"] = "1", ["DOTNET_JitStdOutFile"] = log },
                TimeSpan.FromMinutes(2), "generate", "--prompt", "Once upon a time", "--temperature", "0", "-n", "8", "--threads", "2");
            Assert.True(run.ExitCode == 0, run.ToString());
            string[] compiled = File.ReadAllLines(log).Where(l => l.Contains("JIT compiled Tandem.", StringComparison.Ordinal)).ToArray();

            // The list is read right: the forward pass and a kernel are in it.
            Assert.Contains(compiled, l => l.Contains("Tandem.Engine.Model.Transformer:ForwardCore", StringComparison.Ordinal));
            Assert.Contains(compiled, l => l.Contains("Tandem.Engine.Kernels.ThreadTeam:Work", StringComparison.Ordinal));
            // Under .NET's defaults these are "Tier0", "Instrumented Tier0" and "Tier1-OSR" (ForwardCore among them).
            string[] unoptimised = compiled.Where(l => l.Contains("[Tier0", StringComparison.Ordinal)
                || l.Contains("[Instrumented Tier0", StringComparison.Ordinal) || l.Contains("OSR", StringComparison.Ordinal)).ToArray();
            Assert.True(unoptimised.Length == 0, $"compiled unoptimised first:\n{string.Join('\n', unoptimised.Take(20))}");
        }
        finally
        {
            File.Delete(log);
        }
    }

    [Fact]
    public async Task Serve_compiles_the_forward_pass_before_any_request()
    {
        // No request is ever sent: a forward pass in the JIT's list can only be the warm-up that runs before the
        // server prints "listening on". The list is read after a clean exit (the JIT's writes are buffered until then).
        string log = Path.Combine(Path.GetTempPath(), $"tandem-serve-jit-{Guid.NewGuid():N}.txt");
        try
        {
            await using (var server = await ServeProcess.StartAsync(
                new Dictionary<string, string> { ["DOTNET_JitDisasmSummary"] = "1", ["DOTNET_JitStdOutFile"] = log },
                "--mode", "disaggregated", "--cores-per-instance", "1"))
            {
                server.Terminate();
                Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromMinutes(1)));
            }
            string compiled = File.ReadAllText(log);
            Assert.Contains("Tandem.Engine.Model.Transformer:ForwardCore", compiled);
            Assert.Contains("Tandem.Engine.Model.AttentionJob:Execute", compiled);
        }
        finally
        {
            File.Delete(log);
        }
    }
}
