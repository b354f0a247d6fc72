namespace Tandem.Cli;

/// <summary>A command line that parses but asks for something that does not exist (unknown preset, type ...).</summary>
public sealed class CliUsageException(string message) : Exception(message);
