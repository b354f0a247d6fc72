using Tandem.Engine.Structured;

namespace Tandem.Engine.Tests.Structured;

/// <summary>A schema feature that would not be enforced is refused by name, never silently dropped.</summary>
public sealed class JsonSchemaCompilerTests
{
    [Theory]
    [InlineData("""{"type":"integer","minimum":0}""", "minimum", "")]
    [InlineData("""{"type":"string","pattern":"^a"}""", "pattern", "")]
    [InlineData("""{"type":"string","format":"date-time"}""", "format", "")]
    [InlineData("""{"type":"string","minLength":2}""", "minLength", "")]
    [InlineData("""{"anyOf":[{"type":"string"},{"type":"integer"}]}""", "anyOf", "")]
    [InlineData("""{"oneOf":[{"type":"string"}]}""", "oneOf", "")]
    [InlineData("""{"allOf":[{"type":"string"}]}""", "allOf", "")]
    [InlineData("""{"$ref":"#/$defs/a","$defs":{"a":{}}}""", "$ref", "")]
    [InlineData("""{"type":"array","prefixItems":[{}]}""", "prefixItems", "")]
    [InlineData("""{"type":"array","items":{"type":"string"},"minItems":1}""", "minItems", "")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"not":{}}}}}}""", "not", "/properties/a/properties/b")]
    [InlineData("""{"type":"object","patternProperties":{"^x":{}}}""", "patternProperties", "")]
    [InlineData("""{"type":"array","items":{"uniqueItems":true}}""", "uniqueItems", "/items")]
    public void Unsupported_keywords_are_refused_by_name(string schema, string keyword, string path)
    {
        var e = Assert.Throws<JsonSchemaException>(() => JsonGrammar.FromSchema(schema));
        Assert.True(e.IsUnsupported);
        Assert.Equal(keyword, e.Keyword);
        Assert.Equal(path, e.Path);
        Assert.Contains($"'{keyword}'", e.Message);
    }

    [Theory]
    [InlineData("""{"type":"text"}""")]
    [InlineData("""{"type":5}""")]
    [InlineData("""false""")]
    [InlineData("""{"properties":{"a":false}}""")]
    [InlineData("""{"enum":[]}""")]
    [InlineData("""{"type":"string","enum":[1,2]}""")]
    [InlineData("""{"required":"a"}""")]
    [InlineData("""{"items":3}""")]
    [InlineData("""[1]""")]
    [InlineData("""{"a":""")]
    public void Malformed_or_unsatisfiable_schemas_are_refused(string schema)
    {
        var e = Assert.Throws<JsonSchemaException>(() => JsonGrammar.FromSchema(schema));
        Assert.False(e.IsUnsupported);
    }

    [Fact]
    public void Annotations_are_accepted_and_grammars_are_shared_by_schema_text()
    {
        const string schema = """{"$schema":"https://json-schema.org/draft/2020-12/schema","title":"T","description":"d","type":"object","properties":{"a":{"type":"string","default":"x","examples":["y"]}}}""";
        Assert.Same(JsonGrammar.FromSchema(schema), JsonGrammar.FromSchema(schema));
        Assert.Null(JsonGrammar.JsonObject.Schema);
        Assert.Same(JsonGrammar.JsonObject, JsonGrammar.FromWire(null));
        Assert.Equal(JsonGrammar.FromSchema(schema).Schema, JsonGrammar.FromWire(JsonGrammar.FromSchema(schema).Schema).Schema);
    }

    [Fact]
    public void Nesting_past_the_limit_is_refused()
    {
        string deep = string.Concat(Enumerable.Repeat("""{"type":"array","items":""", JsonSchemaCompiler.MaxSchemaDepth + 2)) + "{}" + new string('}', JsonSchemaCompiler.MaxSchemaDepth + 2);
        Assert.Throws<JsonSchemaException>(() => JsonGrammar.FromSchema(deep));
    }
}
