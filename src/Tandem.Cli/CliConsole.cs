namespace Tandem.Cli;

/// <summary>Where commands write: results to <see cref="Out"/>, progress and errors to <see cref="Error"/>. Tests pass their own writers.</summary>
public sealed record CliConsole(TextWriter Out, TextWriter Error)
{
    public static CliConsole System { get; } = new(Console.Out, Console.Error);
}
