using System.Text.Json;
using System.Text.Json.Nodes;
using Tandem.Engine.Chat;
using Tandem.Engine.Structured;
using Tandem.Server.Generation;

namespace Tandem.Server.Chat;

/// <summary>
/// How a chat request's reply is read for tool calls: the model's format, the text appended to the prompt to force
/// a call (tool_choice "required" or a named function; empty for "auto") and the text that closes it, the grammar
/// that then constrains the reply (the call itself, its arguments following the function's <c>parameters</c>), and
/// whether more than one call is kept.
/// </summary>
internal sealed record ToolCallPlan(ToolCallFormat Format, string ForcedPrefix, bool Parallel)
{
    /// <summary>Appended to the reply when it is read: the end of the call that the forced prefix opened.</summary>
    public string ForcedSuffix { get; init; } = "";

    /// <summary>The structured-output constraint on a forced call (null with "auto").</summary>
    public JsonGrammar? Grammar { get; init; }

    /// <summary>
    /// The plan for <paramref name="tools"/> (whose choice is not "none"). With "required" or a named function the
    /// reply is forced to be one call: the prompt ends with the format's call opening, and the reply is constrained
    /// to the call object — the function's name, then arguments valid for its <c>parameters</c> schema (a JSON
    /// object where the function declares none). With "required" and several tools the name is one of theirs and
    /// the arguments any JSON object, since the grammar cannot tie a schema to the name chosen.
    /// A schema the constraint cannot enforce is a 400 naming its keyword.
    /// </summary>
    public static ToolCallPlan For(ToolCallFormat format, ToolRequest tools)
    {
        if (tools.Choice == "auto") return new ToolCallPlan(format, "", tools.Parallel);
        var functions = tools.Tools.Select((tool, i) => (Function: tool.GetProperty("function"), Index: i))
            .Where(t => tools.Function is null || t.Function.GetProperty("name").ValueEquals(tools.Function))
            .ToList();
        JsonNode arguments = new JsonObject { ["type"] = "object" };
        if (functions.Count == 1 && functions[0].Function.TryGetProperty("parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object)
        {
            StructuredOutputFields.Compile(parameters, $"tools[{functions[0].Index}].function.parameters"); // its errors name the tool
            arguments = JsonNode.Parse(parameters.GetRawText())!;
        }
        var names = new JsonArray([.. functions.Select(f => (JsonNode?)JsonValue.Create(f.Function.GetProperty("name").GetString()))]);
        // Llama 3.x writes the arguments as "parameters"; Hermes/Qwen and Mistral as "arguments".
        string argumentsKey = format == ToolCallFormat.Llama3Json ? "parameters" : "arguments";
        var call = new JsonObject
        {
            ["type"] = "object",
            ["properties"] = new JsonObject { ["name"] = new JsonObject { ["enum"] = names }, [argumentsKey] = arguments },
            ["required"] = new JsonArray("name", argumentsKey),
            ["additionalProperties"] = false,
        };
        var (prefix, suffix) = format switch
        {
            ToolCallFormat.Hermes => ("<tool_call>\n", "\n</tool_call>"),
            ToolCallFormat.Llama3Json => ("", ""),
            _ => ("[TOOL_CALLS][", "]"),
        };
        using var schema = JsonDocument.Parse(call.ToJsonString());
        return new ToolCallPlan(format, prefix, Parallel: false)
        {
            ForcedSuffix = suffix,
            Grammar = StructuredOutputFields.Compile(schema.RootElement, "tools"),
        };
    }
}
