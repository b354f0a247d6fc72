using System.Text;
using Tandem.Engine.Structured;

namespace Tandem.Engine.Tests.Structured;

/// <summary>
/// The automaton byte by byte: it takes every byte of valid JSON (of the schema) and says it is complete exactly at
/// the end, and it refuses the first byte after which no valid output exists.
/// </summary>
public sealed class JsonAutomatonTests
{
    private const string Person = """
        {"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},
         "tags":{"type":"array","items":{"enum":["a","b"]}}},"required":["name","age"],"additionalProperties":false}
        """;

    /// <summary>How far the automaton gets through <paramref name="text"/>: the bytes taken, and whether it is complete then.</summary>
    private static (int Taken, bool Complete) Run(JsonGrammar grammar, string text)
    {
        var a = new JsonAutomaton(grammar);
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        for (int i = 0; i < bytes.Length; i++)
        {
            if (!a.Advance(bytes[i])) return (i, a.IsComplete);
        }
        return (bytes.Length, a.IsComplete);
    }

    private static void AssertValid(JsonGrammar grammar, string text)
    {
        var (taken, complete) = Run(grammar, text);
        Assert.True(taken == Encoding.UTF8.GetByteCount(text), $"refused byte {taken} of {text}");
        Assert.True(complete, $"not complete after {text}");
        // Complete only at the end: no proper prefix of a valid object is complete (numbers aside).
        if (text.TrimEnd().EndsWith('}'))
            Assert.False(Run(grammar, text.TrimEnd()[..^1]).Complete);
    }

    /// <summary>Refused at the byte where <paramref name="text"/> first goes wrong (marked by its index), or incomplete at the end.</summary>
    private static void AssertRefusedAt(JsonGrammar grammar, string text, int at)
    {
        var (taken, complete) = Run(grammar, text);
        if (at < 0)
        {
            Assert.Equal(Encoding.UTF8.GetByteCount(text), taken);
            Assert.False(complete, $"{text} should not be complete");
        }
        else
        {
            Assert.True(taken == at, $"{text}: expected refusal at byte {at}, got {taken}");
        }
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("\n  { }\n")]
    [InlineData("{\n\t\"a\": [\n\t\t1,\n\t\t2\n\t]\n}")]
    [InlineData("{\"a\":1}")]
    [InlineData("{\"a\": [1, 2.5, -0.5e-3, 0, 10E+2, \"x\", true, false, null, {\"b\": {}}, []]}")]
    [InlineData("{\"k\\\"ey\": \"v\\u00e9\\n\\/\\\\\"}")]
    [InlineData("{\"名\": \"值 — ok 🎉\"}")]
    [InlineData("{\"a\":{\"a\":{\"a\":[[[]]]}}}\n   ")]
    public void Json_object_mode_takes_any_object(string text) => AssertValid(JsonGrammar.JsonObject, text);

    [Theory]
    [InlineData("[1]", 0)]                    // the top level is an object
    [InlineData("\"x\"", 0)]
    [InlineData("{\"a\":01}", 6)]             // no leading zeros
    [InlineData("{\"a\":1,}", 7)]             // no trailing comma
    [InlineData("{,}", 1)]
    [InlineData("{\"a\" 1}", 5)]
    [InlineData("{\"a\":tru}", 8)]
    [InlineData("{\"a\":\"\\ud800\"}", 9)]   // a lone surrogate escape
    [InlineData("{\"a\":\"x\ty\"}", 7)]      // a raw control character
    [InlineData("{\"a\":1}}", 7)]
    [InlineData("{\"a\":1e100}", 9)]          // exponents have at most two digits
    [InlineData("{\"a\":12345678901234567}", 21)] // integers at most 16 digits
    [InlineData("{\"a\":\"x\\q\"}", 8)]       // no such escape
    [InlineData("{\"a\":-}", 6)]
    [InlineData("{\"a\":1.}", 7)]
    [InlineData("{\"a\":[1 2]}", 8)]
    [InlineData("{\"a\":", -1)]
    [InlineData("{\"a\":1", -1)]
    public void Json_object_mode_refuses_what_cannot_become_valid(string text, int at) => AssertRefusedAt(JsonGrammar.JsonObject, text, at);

    [Fact]
    public void Invalid_utf8_and_padding_whitespace_are_refused()
    {
        var a = new JsonAutomaton(JsonGrammar.JsonObject);
        foreach (byte b in "{\"a\":\""u8) Assert.True(a.Advance(b));
        Assert.False(a.Advance(0xC0)); // overlong lead byte
        a = new JsonAutomaton(JsonGrammar.JsonObject);
        foreach (byte b in "{\"a\":\""u8) Assert.True(a.Advance(b));
        Assert.True(a.Advance(0xED));
        Assert.False(a.Advance(0xA0)); // ED A0..: a UTF-16 surrogate in UTF-8

        a = new JsonAutomaton(JsonGrammar.JsonObject);
        Assert.True(a.Advance((byte)'\n'));
        for (int i = 0; i < JsonAutomaton.MaxIndent; i++) Assert.True(a.Advance((byte)(i % 2 == 0 ? ' ' : '\t')));
        Assert.False(a.Advance((byte)' '));
        Assert.False(a.Advance((byte)'\n'));
        Assert.True(a.Advance((byte)'{'));
        Assert.True(a.Advance((byte)' '));
        Assert.False(a.Advance((byte)' ')); // one space, or a newline and indentation: not two spaces
        Assert.False(a.Advance((byte)'\n'));
        Assert.False(a.Advance((byte)'\t'));
    }

    [Theory]
    [InlineData("{\"name\":\"x\",\"age\":3}")]
    [InlineData("{ \"name\" : \"Zoë\" , \"age\" : -12 , \"tags\" : [ \"a\" , \"b\" ] }")]
    [InlineData("{\"name\":\"\",\"age\":0,\"tags\":[]}")]
    public void A_schema_takes_its_values(string text) => AssertValid(JsonGrammar.FromSchema(Person), text);

    [Theory]
    [InlineData("{\"age\":3,\"name\":\"x\"}", 2)]           // declared order: name first
    [InlineData("{\"name\":\"x\"}", 11)]                    // age is required
    [InlineData("{\"name\":\"x\",\"age\":3.5}", 19)]        // an integer
    [InlineData("{\"name\":\"x\",\"age\":3,\"tags\":[\"c\"]}", 29)] // not in the enum
    [InlineData("{\"name\":\"x\",\"age\":3,\"extra\":1}", 21)]   // additionalProperties: false
    [InlineData("{\"name\":1}", 8)]
    public void A_schema_refuses_what_it_does_not_allow(string text, int at) => AssertRefusedAt(JsonGrammar.FromSchema(Person), text, at);

    [Fact]
    public void Optional_properties_may_be_skipped_but_required_ones_not()
    {
        var g = JsonGrammar.FromSchema("""{"properties":{"a":{},"b":{"type":"boolean"},"c":{"type":"null"}},"required":["b"]}""");
        AssertValid(g, "{\"b\":true}");
        AssertValid(g, "{\"a\":[1,{\"x\":null}],\"b\":false,\"c\":null}");
        AssertValid(g, "{\"b\":true,\"c\":null}");
        AssertRefusedAt(g, "{\"a\":1}", 6);
        AssertRefusedAt(g, "{\"c\":null}", 2);
        AssertRefusedAt(g, "{}", 1);
    }

    [Fact]
    public void Scalars_at_the_top_level_are_complete_where_they_may_end()
    {
        var integer = JsonGrammar.FromSchema("""{"type":"integer"}""");
        Assert.True(Run(integer, "12").Complete);
        Assert.True(Run(integer, "0").Complete);
        Assert.False(Run(integer, "-").Complete);
        Assert.Equal(1, Run(integer, "1.0").Taken);

        var literals = JsonGrammar.FromSchema("""{"enum":[1, 12, "a", {"k":[true]}]}""");
        Assert.True(Run(literals, "1").Complete);
        Assert.True(Run(literals, "12 ").Complete);
        Assert.Equal(2, Run(literals, "123").Taken);
        AssertValid(literals, "{\"k\":[true]}");
        Assert.Equal(1, Run(literals, "\"b\"").Taken);

        var nullable = JsonGrammar.FromSchema("""{"type":["string","null"]}""");
        Assert.True(Run(nullable, "null").Complete);
        Assert.True(Run(nullable, "\"x\"").Complete);
        Assert.Equal(0, Run(nullable, "1").Taken);

        var constant = JsonGrammar.FromSchema("""{"const":{"a":[1,2]}}""");
        AssertValid(constant, "{\"a\":[1,2]}");
        Assert.Equal(6, Run(constant, "{\"a\":[2]}").Taken);
    }

    [Fact]
    public void Nesting_deeper_than_the_stack_is_refused_at_the_opening_bracket()
    {
        var a = new JsonAutomaton(JsonGrammar.JsonObject);
        foreach (byte b in "{\"a\":"u8) Assert.True(a.Advance(b));
        int opened = 0;
        while (a.Advance((byte)'[')) opened++;
        Assert.Equal(JsonAutomaton.MaxDepth - 2, opened); // the root and the object hold two frames
        for (int i = 0; i < opened; i++) Assert.True(a.Advance((byte)']'));
        Assert.True(a.Advance((byte)'}'));
        Assert.True(a.IsComplete);
    }

    [Fact]
    public void Restore_undoes_everything_since_the_mark()
    {
        var a = new JsonAutomaton(JsonGrammar.FromSchema(Person));
        foreach (byte b in "{\"name\":\"x\","u8) Assert.True(a.Advance(b));
        int[] before = a.WriteKey();
        a.Logging = true;
        var mark = a.Mark();
        foreach (byte b in "\"age\":12,\"tags\":[\"a\""u8) Assert.True(a.Advance(b));
        a.Restore(mark);
        a.Logging = false;
        Assert.True(a.KeyEquals(before));
    }
}
