using System.Text.Json;
using Json.Schema;

namespace Tandem.Engine.Tests.Structured;

/// <summary>Checks structured output with an independent JSON parser and JSON Schema validator (JsonSchema.Net).</summary>
public static class StructuredOutputAssert
{
    /// <summary>
    /// Asserts <paramref name="text"/> is one JSON value that validates against <paramref name="schema"/> (JSON text),
    /// or, for a null schema (json_object mode), is a JSON object.
    /// </summary>
    public static void Valid(string? schema, string text)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            Assert.Fail($"the output is not JSON ({e.Message}): {text}");
            return;
        }
        using (doc)
        {
            if (schema == null)
            {
                Assert.True(doc.RootElement.ValueKind == JsonValueKind.Object, $"json_object output is not an object: {text}");
                return;
            }
            var result = JsonSchema.FromText(schema).Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
            Assert.True(result.IsValid, $"the output does not validate against its schema\nschema: {schema}\noutput: {text}\n" +
                JsonSerializer.Serialize(result));
        }
    }
}
