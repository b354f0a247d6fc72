using System.Text.Json;
using Tandem.Engine.Structured;
using Tandem.Server.Protocol;

namespace Tandem.Server.Generation;

/// <summary>
/// Structured output requested by <c>response_format</c> (OpenAI: <c>{"type":"text"}</c>, <c>{"type":"json_object"}</c>,
/// <c>{"type":"json_schema","json_schema":{"name","description","schema","strict"}}</c>) or by vLLM's
/// <c>guided_json</c> (a schema, as an object or as JSON text), on both generation endpoints. The schema is compiled
/// here, so an unsupported keyword is a 400 naming it before any work is queued.
/// </summary>
internal static class StructuredOutputFields
{
    private static readonly string[] WrapperFields = ["name", "description", "schema", "strict"];

    /// <summary>The grammar the output must follow, or null for free text.</summary>
    public static JsonGrammar? Parse(RequestFields f)
    {
        JsonGrammar? fromFormat = ResponseFormat(f);
        if (!f.TryGet("guided_json", out var guided)) return fromFormat;
        if (fromFormat != null)
            throw ApiException.Invalid("guided_json", "Give either 'guided_json' or a JSON 'response_format', not both.");
        if (guided.ValueKind == JsonValueKind.String)
        {
            try
            {
                using var doc = JsonDocument.Parse(guided.GetString()!);
                return Compile(doc.RootElement, "guided_json");
            }
            catch (JsonException e)
            {
                throw ApiException.Invalid("guided_json", $"'guided_json' is a string but not JSON text: {e.Message}");
            }
        }
        if (guided.ValueKind is not (JsonValueKind.Object or JsonValueKind.True or JsonValueKind.False))
            throw ApiException.Invalid("guided_json", "'guided_json' must be a JSON Schema (an object, or its JSON text).");
        return Compile(guided, "guided_json");
    }

    private static JsonGrammar? ResponseFormat(RequestFields f)
    {
        const string param = "response_format";
        if (!f.TryGet(param, out var format)) return null;
        if (format.ValueKind != JsonValueKind.Object)
            throw ApiException.Invalid(param, "'response_format' must be an object such as {\"type\": \"json_object\"}.");
        var fields = new RequestFields(format);
        string type = fields.String("type") ?? throw ApiException.Invalid($"{param}.type", "'response_format.type' is required.");
        switch (type)
        {
            case "text":
                return null;
            case "json_object":
                return JsonGrammar.JsonObject;
            case "json_schema":
                if (!fields.TryGet("json_schema", out var wrapper))
                    throw ApiException.Invalid($"{param}.json_schema", "'response_format.json_schema' is required when the type is 'json_schema'.");
                if (wrapper.ValueKind != JsonValueKind.Object)
                    throw ApiException.Invalid($"{param}.json_schema", "'response_format.json_schema' must be an object with a 'schema'.");
                foreach (var p in wrapper.EnumerateObject())
                {
                    if (!WrapperFields.Contains(p.Name))
                        throw ApiException.Unsupported($"{param}.json_schema.{p.Name}",
                            $"'response_format.json_schema.{p.Name}' is not supported; its fields are {string.Join(", ", WrapperFields)}.");
                }
                var w = new RequestFields(wrapper);
                w.String("name");
                w.String("description");
                w.Bool("strict"); // always enforced: strict or not, the output follows the schema
                if (!w.TryGet("schema", out var schema))
                    return Compile(default, $"{param}.json_schema.schema"); // OpenAI's schema is optional: any JSON value
                if (schema.ValueKind is not (JsonValueKind.Object or JsonValueKind.True or JsonValueKind.False))
                    throw ApiException.Invalid($"{param}.json_schema.schema", "'response_format.json_schema.schema' must be a JSON Schema object.");
                return Compile(schema, $"{param}.json_schema.schema");
            default:
                throw ApiException.Invalid($"{param}.type", $"'response_format.type' must be 'text', 'json_object' or 'json_schema'; got '{type}'.");
        }
    }

    /// <summary>Compiles a schema given in field <paramref name="param"/>: errors are 400s naming the keyword's place in it.</summary>
    internal static JsonGrammar Compile(JsonElement schema, string param)
    {
        try
        {
            return schema.ValueKind == JsonValueKind.Undefined ? JsonGrammar.FromSchema("true") : JsonGrammar.FromSchema(schema);
        }
        catch (JsonSchemaException e)
        {
            string where = param + e.Path.Replace('/', '.');
            throw e.IsUnsupported
                ? ApiException.Unsupported($"{where}.{e.Keyword}", e.Message)
                : ApiException.Invalid(where, e.Message);
        }
    }
}
