using System.Text.Json;
using Tandem.Server.Protocol;

namespace Tandem.Server.Chat;

/// <summary>
/// A chat request's <c>tools</c>, <c>tool_choice</c> and <c>parallel_tool_calls</c>, validated as OpenAI does:
/// each tool <c>{"type":"function","function":{"name", "description"?, "parameters"?}}</c>; tool_choice "none",
/// "auto" (the default with tools), "required", or <c>{"type":"function","function":{"name"}}</c> naming one of them.
/// </summary>
internal sealed record ToolRequest(IReadOnlyList<JsonElement> Tools, string Choice, string? Function, bool Parallel)
{
    /// <summary>The tools shown to the model: none when tool_choice is "none" (as vLLM does by default).</summary>
    public IReadOnlyList<JsonElement> Shown => Choice == "none" ? [] : Tools;

    public static ToolRequest Parse(RequestFields f)
    {
        var tools = new List<JsonElement>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (f.TryGet("tools", out var array))
        {
            if (array.ValueKind != JsonValueKind.Array)
                throw ApiException.Invalid("tools", "'tools' must be an array of tool objects.");
            int i = 0;
            foreach (var tool in array.EnumerateArray())
            {
                string param = $"tools[{i++}]";
                if (tool.ValueKind != JsonValueKind.Object || !tool.TryGetProperty("type", out var type) || !type.ValueEquals("function"))
                    throw ApiException.Invalid(param, $"'{param}' must be an object with \"type\": \"function\".");
                if (!tool.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
                    throw ApiException.Invalid($"{param}.function", $"'{param}.function' must be an object.");
                if (!function.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String || name.GetString()!.Length == 0)
                    throw ApiException.Invalid($"{param}.function.name", $"'{param}.function.name' must be a non-empty string.");
                if (function.TryGetProperty("parameters", out var parameters) && parameters.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null))
                    throw ApiException.Invalid($"{param}.function.parameters", $"'{param}.function.parameters' must be a JSON Schema object.");
                if (!names.Add(name.GetString()!))
                    throw ApiException.Invalid($"{param}.function.name", $"Two tools are named '{name.GetString()}'.");
                tools.Add(tool);
            }
        }

        string choice = tools.Count > 0 ? "auto" : "none";
        string? named = null;
        if (f.TryGet("tool_choice", out var toolChoice))
        {
            if (toolChoice.ValueKind == JsonValueKind.String)
            {
                choice = toolChoice.GetString()!;
                if (choice is not ("none" or "auto" or "required"))
                    throw ApiException.Invalid("tool_choice", $"'tool_choice' must be \"none\", \"auto\", \"required\" or {{\"type\":\"function\",\"function\":{{\"name\":...}}}}; got \"{choice}\".");
            }
            else if (toolChoice.ValueKind == JsonValueKind.Object && toolChoice.TryGetProperty("function", out var function)
                && function.ValueKind == JsonValueKind.Object && function.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String)
            {
                choice = "function";
                named = name.GetString()!;
                if (!names.Contains(named))
                    throw ApiException.Invalid("tool_choice", $"'tool_choice' names the function '{named}', which is not in 'tools'.");
            }
            else
            {
                throw ApiException.Invalid("tool_choice", "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\":\"function\",\"function\":{\"name\":...}}.");
            }
            if (choice is "required" or "auto" && tools.Count == 0)
                throw ApiException.Invalid("tool_choice", $"'tool_choice' \"{choice}\" needs 'tools'.");
        }
        return new ToolRequest(tools, choice, named, f.Bool("parallel_tool_calls") ?? true);
    }
}
