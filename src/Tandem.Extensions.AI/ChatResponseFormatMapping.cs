using System.Text.Json;
using Microsoft.Extensions.AI;
using Tandem.Engine.Structured;

namespace Tandem.Extensions.AI;

/// <summary>
/// <see cref="ChatOptions.ResponseFormat"/> as the OpenAI endpoint's <c>response_format</c>: Text is free text,
/// <see cref="ChatResponseFormat.Json"/> any JSON object (json_object), and <see cref="ChatResponseFormat.ForJsonSchema(JsonElement, string?, string?)"/>
/// JSON valid for the schema (json_schema) — enforced at every sampled token by the structured-output constraint.
/// </summary>
internal static class ChatResponseFormatMapping
{
    /// <summary>The grammar the reply must follow, or null for free text.</summary>
    public static JsonGrammar? Grammar(ChatOptions? options) => options?.ResponseFormat switch
    {
        null or ChatResponseFormatText => null,
        ChatResponseFormatJson { Schema: null } => JsonGrammar.JsonObject,
        ChatResponseFormatJson { Schema: JsonElement schema } => Compile(schema, "ChatOptions.ResponseFormat.Schema"),
        var other => throw new NotSupportedException($"ChatOptions.ResponseFormat is a {other.GetType().Name}: Tandem produces text or JSON only"),
    };

    /// <summary>
    /// Compiles a schema given at <paramref name="place"/>: a keyword the constraint cannot enforce is a
    /// <see cref="NotSupportedException"/> and a malformed schema an <see cref="ArgumentException"/>, both naming where.
    /// </summary>
    public static JsonGrammar Compile(JsonElement schema, string place)
    {
        try
        {
            return JsonGrammar.FromSchema(schema);
        }
        catch (JsonSchemaException e)
        {
            string where = place + e.Path.Replace('/', '.');
            if (e.IsUnsupported)
                throw new NotSupportedException($"{where}.{e.Keyword}: {e.Message}", e);
            throw new ArgumentException($"{where}: {e.Message}", e);
        }
    }
}
