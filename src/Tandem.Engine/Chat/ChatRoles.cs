namespace Tandem.Engine.Chat;

/// <summary>The message roles a chat may use (the OpenAI chat API's, lower case, compared exactly).</summary>
public static class ChatRoles
{
    public const string System = "system";
    public const string User = "user";
    public const string Assistant = "assistant";
    public const string Tool = "tool";

    public static bool IsKnown(string role) => role is System or User or Assistant or Tool;
}
