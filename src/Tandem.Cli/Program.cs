namespace Tandem.Cli;

internal static class Program
{
    private static int Main(string[] args) => TandemApp.Run(args);
}
