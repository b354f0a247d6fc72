using Spectre.Console;

namespace Tandem.Cli;

/// <summary>Where commands write: results to <see cref="Out"/>, progress and errors to <see cref="Error"/>. Tests pass their own writers.</summary>
public sealed record CliConsole(TextWriter Out, TextWriter Error)
{
    public static CliConsole System { get; } = new(Console.Out, Console.Error);

    /// <summary>Spectre.Console over <see cref="Out"/>: live (progress bars, colour) on a terminal, plain text otherwise (tests, pipes).</summary>
    public IAnsiConsole CreateAnsiConsole(out bool interactive)
    {
        interactive = ReferenceEquals(this, System) && !Console.IsOutputRedirected && !Console.IsErrorRedirected;
        if (interactive) return AnsiConsole.Console;
        var ansi = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(Out),
        });
        ansi.Profile.Width = 140;
        return ansi;
    }
}
