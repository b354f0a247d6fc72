using System.Text.Json;

namespace Tandem.Engine.Chat;

/// <summary>What a chat template renders: the messages, the tools offered to the model, and extra template variables.</summary>
public sealed record ChatRenderRequest(IReadOnlyList<ChatMessage> Messages)
{
    /// <summary>End with the assistant's turn header, so the model writes the reply (HF's add_generation_prompt).</summary>
    public bool AddGenerationPrompt { get; init; } = true;

    /// <summary>The request's <c>tools</c>, each an OpenAI tool object (<c>{"type":"function","function":{...}}</c>) as the client sent it.</summary>
    public IReadOnlyList<JsonElement> Tools { get; init; } = [];

    /// <summary>The request's <c>chat_template_kwargs</c> (e.g. <c>enable_thinking</c>): extra variables for a Jinja template.</summary>
    public IReadOnlyDictionary<string, JsonElement> TemplateVariables { get; init; } = new Dictionary<string, JsonElement>();
}
