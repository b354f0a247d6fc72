using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using Tandem.Engine.Chat;
using Tandem.Engine.Chat.Tools;

namespace Tandem.Extensions.AI;

/// <summary>
/// <see cref="ChatOptions.Tools"/> and <see cref="ChatOptions.ToolMode"/> as the OpenAI endpoint's <c>tools</c> and
/// <c>tool_choice</c>: each <see cref="AIFunctionDeclaration"/> becomes an OpenAI tool object (name, description, its
/// JSON schema as <c>parameters</c>) that the chat template renders, and the mode picks the same
/// <see cref="ToolCallPlan"/> as the server — Auto (the default with tools) constrains a call where the model opens
/// one, RequireAny / RequireSpecific force the reply to be one call, None shows the model no tools (as vLLM does).
/// </summary>
internal static class ChatToolMapping
{
    /// <summary>The tools as OpenAI tool objects, validated (functions only, distinct names); empty without tools.</summary>
    public static IReadOnlyList<JsonElement> Declarations(ChatOptions? options)
    {
        if (options?.Tools is not { Count: > 0 } tools) return [];
        var declared = new List<JsonElement>(tools.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < tools.Count; i++)
        {
            if (tools[i] is not AIFunctionDeclaration function)
                throw new NotSupportedException($"ChatOptions.Tools[{i}] is a {tools[i].GetType().Name}: Tandem calls functions only (AIFunction / AIFunctionDeclaration)");
            if (string.IsNullOrEmpty(function.Name))
                throw new ArgumentException($"ChatOptions.Tools[{i}] has no name", nameof(options));
            if (!names.Add(function.Name))
                throw new ArgumentException($"ChatOptions.Tools has two functions named '{function.Name}'", nameof(options));
            var body = new JsonObject { ["name"] = function.Name };
            if (!string.IsNullOrEmpty(function.Description)) body["description"] = function.Description;
            if (function.JsonSchema.ValueKind == JsonValueKind.Object) body["parameters"] = JsonNode.Parse(function.JsonSchema.GetRawText());
            declared.Add(JsonSerializer.SerializeToElement(new JsonObject { ["type"] = "function", ["function"] = body }));
        }
        return declared;
    }

    /// <summary>Whether the model is shown the tools and may call them: every mode but None.</summary>
    public static bool Offered(ChatOptions? options, IReadOnlyList<JsonElement> tools)
    {
        if (options?.ToolMode is RequiredChatToolMode && tools.Count == 0)
            throw new ArgumentException("ChatOptions.ToolMode requires a tool call but ChatOptions.Tools is empty", nameof(options));
        return tools.Count > 0 && options?.ToolMode is not NoneChatToolMode;
    }

    /// <summary>The plan for tools that are <see cref="Offered"/>; schemas are compiled by <paramref name="compile"/>.</summary>
    public static ToolCallPlan Plan(ToolCallFormat format, IReadOnlyList<JsonElement> tools, ChatOptions options)
    {
        string? named = (options.ToolMode as RequiredChatToolMode)?.RequiredFunctionName;
        if (named is not null && !tools.Any(t => t.GetProperty("function").GetProperty("name").ValueEquals(named)))
            throw new ArgumentException($"ChatOptions.ToolMode requires the function '{named}', which is not in ChatOptions.Tools", nameof(options));
        return ToolCallPlan.For(format, tools, auto: options.ToolMode is not RequiredChatToolMode, named,
            parallel: options.AllowMultipleToolCalls ?? true, (schema, place) => ChatResponseFormatMapping.Compile(schema, "ChatOptions." + place));
    }
}
