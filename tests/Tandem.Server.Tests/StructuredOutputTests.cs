using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tandem.Engine.Tests.Structured;

namespace Tandem.Server.Tests;

/// <summary>
/// Structured output through the real server on loopback (stories260K, sampled): response_format json_object and
/// json_schema on both endpoints, guided_json, streaming; every choice that finishes with "stop" validates against
/// its schema (JsonSchema.Net), a cut-off one says "length", and schemas that cannot be enforced get a 400 naming
/// the keyword while the server keeps serving.
/// </summary>
public sealed class StructuredOutputTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private HttpClient Http => fixture.Server.Http;

    /// <summary>Bounded values only (no string, no array): every output ends within a few dozen tokens.</summary>
    private const string Flags = """
        {"type":"object","properties":{"ok":{"type":"boolean"},"mood":{"enum":["happy","sad"]},"count":{"type":"integer"},
         "note":{"type":"null"}},"required":["ok","mood","count"],"additionalProperties":false}
        """;

    private const string Story = """{"type":"object","properties":{"title":{"type":"string"},"moral":{"type":["string","null"]}},"required":["title"]}""";

    private static JsonObject Chat(JsonNode? responseFormat, int maxTokens = 96, int n = 4) => new()
    {
        ["model"] = RunningServer.ModelName,
        ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Tell me about a cat." }),
        ["max_tokens"] = maxTokens,
        ["temperature"] = 1.0,
        ["seed"] = 11,
        ["n"] = n,
        ["response_format"] = responseFormat,
    };

    private static JsonObject SchemaFormat(string schema) => new()
    {
        ["type"] = "json_schema",
        ["json_schema"] = new JsonObject { ["name"] = "answer", ["strict"] = true, ["schema"] = JsonNode.Parse(schema) },
    };

    /// <summary>Checks every choice: "stop" ones validate; returns how many stopped.</summary>
    private static int AssertChoices(ApiCalls.Reply reply, string? schema, Func<JsonElement, string> text)
    {
        Assert.True(reply.Status == HttpStatusCode.OK, reply.Body.ToString());
        int stopped = 0;
        foreach (var choice in reply.Body.GetProperty("choices").EnumerateArray())
        {
            string finish = choice.GetProperty("finish_reason").GetString()!;
            Assert.Contains(finish, new[] { "stop", "length" });
            if (finish != "stop") continue;
            stopped++;
            StructuredOutputAssert.Valid(schema, text(choice));
        }
        return stopped;
    }

    private static string Message(JsonElement choice) => choice.GetProperty("message").GetProperty("content").GetString()!;

    private static string Text(JsonElement choice) => choice.GetProperty("text").GetString()!;

    [Fact]
    public async Task Chat_json_schema_choices_that_stop_validate()
    {
        var reply = await Http.PostAsync("/v1/chat/completions", Chat(SchemaFormat(Flags), n: 8));
        Assert.Equal(8, AssertChoices(reply, Flags, Message)); // small values: every choice completes
        reply = await Http.PostAsync("/v1/chat/completions", Chat(SchemaFormat(Story), maxTokens: 160, n: 8));
        AssertChoices(reply, Story, Message);
    }

    [Fact]
    public async Task Chat_json_object_choices_are_objects()
    {
        var reply = await Http.PostAsync("/v1/chat/completions", Chat(new JsonObject { ["type"] = "json_object" }, maxTokens: 128, n: 8));
        AssertChoices(reply, null, Message);
        // Every choice, stopped or cut, starts an object: the mask allowed nothing else.
        foreach (var choice in reply.Body.GetProperty("choices").EnumerateArray())
            Assert.StartsWith("{", Message(choice).TrimStart());
    }

    [Fact]
    public async Task Completions_take_response_format_and_guided_json_as_object_or_text()
    {
        var body = ApiCalls.Completion("Once upon a time", 96, temperature: 1);
        body["n"] = 4;
        body["seed"] = 5;
        body["response_format"] = SchemaFormat(Flags);
        Assert.Equal(4, AssertChoices(await Http.PostAsync("/v1/completions", body), Flags, Text));

        body.Remove("response_format");
        body["guided_json"] = JsonNode.Parse(Flags);
        Assert.Equal(4, AssertChoices(await Http.PostAsync("/v1/completions", body), Flags, Text));

        body["guided_json"] = Flags; // vLLM also takes the schema as JSON text
        Assert.Equal(4, AssertChoices(await Http.PostAsync("/v1/completions", body), Flags, Text));

        body.Remove("guided_json");
        body["response_format"] = new JsonObject { ["type"] = "json_object" };
        AssertChoices(await Http.PostAsync("/v1/completions", body), null, Text);

        body["response_format"] = new JsonObject { ["type"] = "text" };
        var free = await Http.PostAsync("/v1/completions", body);
        Assert.Equal(HttpStatusCode.OK, free.Status);
    }

    [Fact]
    public async Task A_streamed_choice_validates_and_one_cut_by_max_tokens_finishes_with_length()
    {
        var body = Chat(SchemaFormat(Flags), n: 1);
        body["stream"] = true;
        var events = await Http.StreamAsync("/v1/chat/completions", body);
        Assert.Equal("[DONE]", events[^1]);
        var text = new StringBuilder();
        string? finish = null;
        foreach (var e in events[..^1])
        {
            var choice = JsonDocument.Parse(e).RootElement.GetProperty("choices")[0];
            if (choice.GetProperty("delta").TryGetProperty("content", out var c)) text.Append(c.GetString());
            if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String) finish = choice.GetProperty("finish_reason").GetString();
        }
        Assert.Equal("stop", finish);
        StructuredOutputAssert.Valid(Flags, text.ToString());

        var cut = await Http.PostAsync("/v1/chat/completions", Chat(SchemaFormat(Flags), maxTokens: 3, n: 1));
        var only = cut.Body.GetProperty("choices")[0];
        Assert.Equal("length", only.GetProperty("finish_reason").GetString());
        Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(Message(only))); // a prefix, not yet a value
    }

    [Theory]
    [InlineData("/v1/chat/completions", "response_format.json_schema.schema.properties.age.minimum", "minimum")]
    [InlineData("/v1/completions", "response_format.json_schema.schema.properties.age.minimum", "minimum")]
    [InlineData("/v1/completions", "guided_json.properties.age.minimum", "minimum")]
    public async Task An_unsupported_keyword_is_a_400_that_names_it_and_the_server_keeps_serving(string path, string param, string keyword)
    {
        const string schema = """{"type":"object","properties":{"age":{"type":"integer","minimum":0}}}""";
        JsonObject body = path == "/v1/completions" ? ApiCalls.Completion("Hi", 8) : Chat(null, n: 1);
        if (param.StartsWith("guided_json", StringComparison.Ordinal)) body["guided_json"] = JsonNode.Parse(schema);
        else body["response_format"] = SchemaFormat(schema);

        var reply = await Http.PostAsync(path, body);
        ApiCalls.AssertError(reply, HttpStatusCode.BadRequest, param, "unsupported_parameter");
        Assert.Contains($"'{keyword}'", reply.Body.GetProperty("error").GetProperty("message").GetString());

        var fine = await Http.PostAsync("/v1/chat/completions", Chat(SchemaFormat(Flags), n: 1));
        Assert.Equal(1, AssertChoices(fine, Flags, Message));
    }

    [Fact]
    public async Task Malformed_formats_are_400_with_the_field_named()
    {
        async Task Expect(JsonObject body, string param)
        {
            var reply = await Http.PostAsync("/v1/chat/completions", body);
            ApiCalls.AssertError(reply, HttpStatusCode.BadRequest, param);
        }
        await Expect(Chat(new JsonObject { ["type"] = "yaml" }), "response_format.type");
        await Expect(Chat(new JsonObject { ["type"] = "json_schema" }), "response_format.json_schema");
        await Expect(Chat(SchemaFormat("""{"type":"object","properties":{"a":{"type":"datetime"}}}""")), "response_format.json_schema.schema.properties.a.type");
        var both = Chat(new JsonObject { ["type"] = "json_object" });
        both["guided_json"] = JsonNode.Parse(Flags);
        await Expect(both, "guided_json");
        var extra = SchemaFormat(Flags);
        extra["json_schema"]!["format"] = "x";
        await Expect(Chat(extra), "response_format.json_schema.format");
    }

    /// <summary>
    /// As in vLLM, a stop string ends structured output where it matches, complete or not: finish_reason "stop" with
    /// stop_reason naming the string (how a client tells it from a completed value), the text up to the match.
    /// </summary>
    [Fact]
    public async Task A_stop_string_ends_structured_output_where_it_matches_and_stop_reason_names_it()
    {
        var body = Chat(new JsonObject { ["type"] = "json_object" }, maxTokens: 64);
        body["stop"] = new JsonArray(":");
        var reply = await Http.PostAsync("/v1/chat/completions", body);
        Assert.True(reply.Status == HttpStatusCode.OK, reply.Body.ToString());
        int cut = 0;
        foreach (var choice in reply.Body.GetProperty("choices").EnumerateArray())
        {
            string text = Message(choice);
            if (choice.GetProperty("finish_reason").GetString() != "stop") continue; // a key still open at max_tokens
            if (choice.GetProperty("stop_reason").ValueKind == JsonValueKind.Null)
            {
                StructuredOutputAssert.Valid(null, text); // ended by end of sequence: "{}", complete
                continue;
            }
            cut++;
            Assert.Equal(":", choice.GetProperty("stop_reason").GetString());
            Assert.StartsWith("{", text.TrimStart());
            Assert.DoesNotContain(":", text);
        }
        Assert.True(cut > 0, reply.Body.ToString());
    }
}
