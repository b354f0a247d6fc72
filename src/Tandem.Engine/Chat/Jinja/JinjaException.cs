namespace Tandem.Engine.Chat.Jinja;

/// <summary>
/// A template that cannot be parsed, or fails while rendering (an unknown filter, a type error, a
/// <c>raise_exception(...)</c> call). <see cref="Raised"/> tells the template's own refusals (which are about the
/// conversation, so a client can fix them) from faults of the template itself.
/// </summary>
public sealed class JinjaException(string message, bool raised = false) : Exception(message)
{
    /// <summary>True when the template itself called <c>raise_exception</c> (e.g. "roles must alternate").</summary>
    public bool Raised { get; } = raised;
}
