namespace Tandem.Engine.Chat;

/// <summary>
/// One message of an OpenAI-style chat: <see cref="Role"/> is "system", "user", "assistant" or "tool" (see
/// <see cref="ChatRoles"/>), <see cref="Content"/> its text. Which roles a conversation may use, and where, depends
/// on the chat template; <see cref="ChatTemplate.Render"/> says when one does not fit.
/// </summary>
public sealed record ChatMessage(string Role, string Content)
{
    public static ChatMessage System(string content) => new(ChatRoles.System, content);
    public static ChatMessage User(string content) => new(ChatRoles.User, content);
    public static ChatMessage Assistant(string content) => new(ChatRoles.Assistant, content);
    public static ChatMessage Tool(string content) => new(ChatRoles.Tool, content);
}
