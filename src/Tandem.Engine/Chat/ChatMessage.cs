namespace Tandem.Engine.Chat;

/// <summary>
/// One message of an OpenAI-style chat: <see cref="Role"/> is "system", "user", "assistant" or "tool" (see
/// <see cref="ChatRoles"/>), <see cref="Content"/> its text. Which roles a conversation may use, and where, depends
/// on the chat template; <see cref="ChatTemplate.Render"/> says when one does not fit. An assistant message may
/// carry the tool calls the model made (<see cref="ToolCalls"/>); a tool message answers one (<see cref="ToolCallId"/>).
/// </summary>
public sealed record ChatMessage(string Role, string Content)
{
    public static ChatMessage System(string content) => new(ChatRoles.System, content);
    public static ChatMessage User(string content) => new(ChatRoles.User, content);
    public static ChatMessage Assistant(string content) => new(ChatRoles.Assistant, content);
    public static ChatMessage Tool(string content) => new(ChatRoles.Tool, content);

    /// <summary>
    /// The client sent <c>"content": null</c> (an assistant turn that only calls tools): Jinja templates see none
    /// (some test <c>content is none</c>), the built-in formats see <see cref="Content"/>, which is then empty.
    /// </summary>
    public bool ContentIsNull { get; init; }

    /// <summary>The calls an assistant message made, in order; empty for every other message.</summary>
    public IReadOnlyList<ChatToolCall> ToolCalls { get; init; } = [];

    /// <summary>For a tool message: the id of the call it answers (OpenAI's <c>tool_call_id</c>).</summary>
    public string? ToolCallId { get; init; }

    /// <summary>The optional <c>name</c> of the message's author (for a tool message, the function's name).</summary>
    public string? Name { get; init; }
}

/// <summary>One function call an assistant made: its id, the function's name, and its arguments as JSON text (as the OpenAI API carries them).</summary>
public sealed record ChatToolCall(string Id, string Name, string Arguments);
