using Tandem.Engine.Chat;

namespace Tandem.Server.Chat;

/// <summary>
/// How a chat request's reply is read for tool calls: the model's format, the text appended to the prompt to force
/// a call (tool_choice "required" or a named function; empty for "auto"), and whether more than one call is kept.
/// </summary>
internal sealed record ToolCallPlan(ToolCallFormat Format, string ForcedPrefix, bool Parallel)
{
    /// <summary>
    /// The start of a call in <paramref name="format"/>, written for the model so that it must continue with one:
    /// with <paramref name="function"/> the name is written too and only the arguments are left to the model.
    /// </summary>
    public static string Force(ToolCallFormat format, string? function)
    {
        string name = function is null ? "" : System.Text.Json.JsonEncodedText.Encode(function).ToString();
        return (format, function) switch
        {
            (ToolCallFormat.Hermes, null) => "<tool_call>\n{\"name\": \"",
            (ToolCallFormat.Hermes, _) => $"<tool_call>\n{{\"name\": \"{name}\", \"arguments\": ",
            (ToolCallFormat.Llama3Json, null) => "{\"name\": \"",
            (ToolCallFormat.Llama3Json, _) => $"{{\"name\": \"{name}\", \"parameters\": ",
            (ToolCallFormat.Mistral, null) => "[TOOL_CALLS][{\"name\": \"",
            _ => $"[TOOL_CALLS][{{\"name\": \"{name}\", \"arguments\": ",
        };
    }
}
