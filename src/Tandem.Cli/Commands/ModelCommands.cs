using System.CommandLine;

namespace Tandem.Cli.Commands;

/// <summary>The <c>tandem model</c> group: commands that make or inspect GGUF model files.</summary>
public static class ModelCommands
{
    public static Command Create(CliConsole console)
    {
        var model = new Command("model", "Make and inspect GGUF model files.");
        model.Add(SynthCommand.Create(console));
        model.Add(InfoCommand.Create(console));
        model.Add(TokenizeCommand.Create(console)); // enable with Commands/TokenizeCommand.cs in Tandem.Cli.csproj
        return model;
    }
}
