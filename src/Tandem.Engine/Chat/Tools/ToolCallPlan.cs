using System.Text.Json;
using System.Text.Json.Nodes;
using Tandem.Engine.Structured;

namespace Tandem.Engine.Chat.Tools;

/// <summary>
/// How a chat request's reply is read for tool calls and constrained: the model's format, the text appended to the
/// prompt to force a call (tool_choice "required" or a named function; empty for "auto") and the text that closes it,
/// the grammar of the forced reply, the constraint of an "auto" reply, and whether more than one call is kept.
/// Shared by the OpenAI endpoint and the in-process <c>IChatClient</c>, so both constrain and read calls alike.
/// </summary>
public sealed record ToolCallPlan(ToolCallFormat Format, string ForcedPrefix, bool Parallel)
{
    /// <summary>Appended to the reply when it is read: the end of the call that the forced prefix opened.</summary>
    public string ForcedSuffix { get; init; } = "";

    /// <summary>The structured-output constraint on a forced call (null with "auto").</summary>
    public JsonGrammar? Grammar { get; init; }

    /// <summary>
    /// With "auto": the calls the reply may write, enforced from the format's call marker to the call's end
    /// (<see cref="ToolCallConstraint"/>); null when the reply is forced, or when response_format constrains it instead.
    /// </summary>
    public ToolCallSyntax? Auto { get; init; }

    /// <summary>
    /// The plan for <paramref name="tools"/> (OpenAI tool objects, <c>{"type":"function","function":{"name",...}}</c>,
    /// already validated; the choice is not "none"). A call is constrained to the call object:
    /// a declared function's name, then arguments valid for that function's <c>parameters</c> (a JSON object where it
    /// declares none) — with several tools a union told apart by the name, so the name chosen picks the schema.
    /// With "required" or a named function (<paramref name="auto"/> false; <paramref name="function"/> names it) the
    /// reply is forced to be one call: the prompt ends with the format's call opening and the reply is the call; a
    /// schema the constraint cannot enforce is then an error of <paramref name="compile"/> naming its keyword.
    /// With "auto" the reply may be text or calls, and a call is constrained once the model opens it; a tool whose
    /// schema the constraint cannot enforce then gets arguments that are any JSON object (as vLLM, which enforces none).
    /// </summary>
    /// <param name="compile">
    /// Compiles a schema given at a place in the request (such as <c>tools[0].function.parameters</c>), turning
    /// <see cref="JsonSchemaException"/> into the caller's own error (a 400 over HTTP, an argument error in process).
    /// </param>
    public static ToolCallPlan For(ToolCallFormat format, IReadOnlyList<JsonElement> tools, bool auto, string? function, bool parallel,
        Func<JsonElement, string, JsonGrammar> compile)
    {
        var functions = tools.Select((tool, i) => (Function: tool.GetProperty("function"), Index: i))
            .Where(t => function is null || t.Function.GetProperty("name").ValueEquals(function))
            .ToList();
        // Llama 3.x writes the arguments as "parameters"; Hermes/Qwen and Mistral as "arguments".
        string argumentsKey = format == ToolCallFormat.Llama3Json ? "parameters" : "arguments";
        var branches = new JsonArray();
        foreach (var (declared, index) in functions)
        {
            branches.Add(new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject
                {
                    ["name"] = new JsonObject { ["const"] = declared.GetProperty("name").GetString() },
                    [argumentsKey] = Arguments(declared, $"tools[{index}].function.parameters", auto, compile),
                },
                ["required"] = new JsonArray("name", argumentsKey),
                ["additionalProperties"] = false,
            });
        }
        using var schema = JsonDocument.Parse(new JsonObject { ["anyOf"] = branches }.ToJsonString());
        var call = compile(schema.RootElement, "tools");
        if (auto)
            return new ToolCallPlan(format, "", parallel) { Auto = new ToolCallSyntax(format, call, parallel) };
        var (prefix, suffix) = format switch
        {
            ToolCallFormat.Hermes => ("<tool_call>\n", "\n</tool_call>"),
            ToolCallFormat.Llama3Json => ("", ""),
            _ => ("[TOOL_CALLS][", "]"),
        };
        return new ToolCallPlan(format, prefix, Parallel: false) { ForcedSuffix = suffix, Grammar = call };
    }

    /// <summary>
    /// This plan beside a response format's grammar (<paramref name="structuredOutput"/>, null for text): with "auto"
    /// that grammar constrains the whole reply, so calls are no longer constrained where they open; a forced call
    /// cannot also follow it (null is returned then, for the caller to refuse the request in its own words).
    /// </summary>
    public ToolCallPlan? Beside(JsonGrammar? structuredOutput) => structuredOutput is null ? this
        : Grammar is not null ? null
        : this with { Auto = null };

    /// <summary>The schema of a function's arguments: its parameters, or any JSON object.</summary>
    private static JsonNode Arguments(JsonElement function, string param, bool lenient, Func<JsonElement, string, JsonGrammar> compile)
    {
        JsonNode anyObject = new JsonObject { ["type"] = "object" };
        if (!function.TryGetProperty("parameters", out var parameters) || parameters.ValueKind != JsonValueKind.Object)
            return anyObject;
        if (!lenient)
        {
            compile(parameters, param); // its errors name the tool
        }
        else
        {
            try
            {
                JsonGrammar.FromSchema(parameters);
            }
            catch (JsonSchemaException)
            {
                return anyObject;
            }
        }
        return JsonNode.Parse(parameters.GetRawText())!;
    }
}
