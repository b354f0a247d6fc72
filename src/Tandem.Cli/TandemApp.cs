using System.CommandLine;
using Tandem.Cli.Commands;
using Tandem.Engine.Gguf;
using Tandem.Hub;

namespace Tandem.Cli;

/// <summary>The <c>tandem</c> command line: builds the command tree and runs it, turning every failure into one <c>error:</c> line.</summary>
public static class TandemApp
{
    public static RootCommand BuildRoot(CliConsole console)
    {
        var root = new RootCommand("Tandem: disaggregated LLM serving for .NET — a GGUF engine that computes what llama.cpp computes, an OpenAI-compatible server, and SLO benchmarks.");
        root.Add(ModelCommands.Create(console));
        root.Add(GenerateCommand.Create(console));
        root.Add(ServeCommand.Create(console));
        root.Add(BenchCommands.Create(console));
        root.Add(ProfileCommand.Create(console));
        root.Add(SimulateCommand.Create(console));
        root.Add(PlanCommand.Create(console));
        return root;
    }

    /// <summary>Runs the command line; returns the process exit code (0 success, 1 any error, including a server shutdown that had to cut requests).</summary>
    public static int Run(string[] args, CliConsole? console = null)
    {
        console ??= CliConsole.System;
        try
        {
            var root = BuildRoot(console);
            var parse = root.Parse(args);
            IReadOnlyList<string> layered = [];
            if (parse.CommandResult.Command.Name == ServeCommand.Name)
                parse = LayeredOptions.Parse(root, args, parse, Environment.GetEnvironmentVariable, out layered);
            if (parse.Errors.Count > 0)
            {
                string from = layered.Count > 0 ? $"; options set outside the command line: {string.Join(", ", layered)}" : "";
                console.Error.WriteLine($"error: {parse.Errors[0].Message} (see --help{from})");
                return 1;
            }
            var invocation = new InvocationConfiguration
            {
                Output = console.Out,
                Error = console.Error,
                EnableDefaultExceptionHandler = false,
            };
            // System.CommandLine answers SIGTERM / Ctrl+C by ending the process 2 s after cancelling the command. The
            // server drains for --shutdown-timeout instead: its host's console lifetime takes those signals.
            if (parse.CommandResult.Command.Name == ServeCommand.Name)
                invocation.ProcessTerminationTimeout = null;
            return parse.Invoke(invocation);
        }
        catch (Exception e)
        {
            console.Error.WriteLine($"error: {Describe(e)}");
            return 1;
        }
    }

    /// <summary>One line for a failure: the expected kinds carry messages written for users; others say what they are.</summary>
    private static string Describe(Exception e) => e switch
    {
        GgufFormatException or FileNotFoundException or DirectoryNotFoundException or CliUsageException or HubException => e.Message,
        ArgumentException or IOException or UnauthorizedAccessException or NotSupportedException => e.Message,
        NotImplementedException => $"not implemented yet: {e.TargetSite?.DeclaringType?.Name}.{e.TargetSite?.Name}",
        AggregateException { InnerExceptions.Count: > 0 } a => Describe(a.InnerExceptions[0]),
        _ => $"{e.GetType().Name}: {e.Message}",
    };
}
