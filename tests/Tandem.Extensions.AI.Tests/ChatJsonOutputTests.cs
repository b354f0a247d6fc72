using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;

namespace Tandem.Extensions.AI.Tests;

/// <summary>
/// <see cref="ChatOptions.ResponseFormat"/>: <see cref="ChatResponseFormat.Json"/> and
/// <see cref="ChatResponseFormat.ForJsonSchema(JsonElement, string?, string?)"/> constrain the reply (sampled, on
/// stories260K, which writes no JSON by itself) as the server's response_format does: the text parses, follows the
/// schema, and is the text the server answers to the same request.
/// </summary>
public sealed class ChatJsonOutputTests(InProcessFixture fixture) : IClassFixture<InProcessFixture>
{
    private const string PersonSchema =
        """{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"],"additionalProperties":false}""";

    private static readonly ChatMessage[] Conversation = [new(ChatRole.User, "Tell me about a girl.")];

    private static ChatOptions Sampled(ChatResponseFormat format) =>
        new() { Temperature = 0.8f, Seed = 7, ResponseFormat = format };

    private async Task<JsonElement> ServerChoice(JsonObject responseFormat, int seed = 7, int? maxTokens = null)
    {
        var body = new JsonObject
        {
            ["model"] = InProcessFixture.ModelName,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Tell me about a girl." }),
            ["temperature"] = seed == 7 ? 0.8f : 1,
            ["seed"] = seed,
            ["response_format"] = responseFormat,
        };
        if (maxTokens is not null) body["max_tokens"] = maxTokens;
        using var http = await fixture.Http.PostAsJsonAsync("/v1/chat/completions", body);
        var json = await http.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(http.IsSuccessStatusCode, json.ToString());
        return json.GetProperty("choices")[0].Clone();
    }

    [Fact]
    public async Task Json_gives_json_objects_the_server_gives_too()
    {
        // Sampled replies of at most 96 tokens (stories260K, left alone, writes objects longer than its context):
        // every one is an object as far as it got (the mask allowed nothing else), one that ended by itself parses
        // whole, and each is the server's reply to the same request.
        for (int seed = 1; seed <= 4; seed++)
        {
            var options = new ChatOptions { Temperature = 1, Seed = seed, MaxOutputTokens = 96, ResponseFormat = ChatResponseFormat.Json };
            var response = await fixture.Client.GetResponseAsync(Conversation, options);
            Assert.StartsWith("{", response.Text.TrimStart());
            if (response.FinishReason == ChatFinishReason.Stop)
            {
                using var doc = JsonDocument.Parse(response.Text);
                Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
            }
            var server = await ServerChoice(new JsonObject { ["type"] = "json_object" }, seed, 96);
            Assert.Equal(server.GetProperty("message").GetProperty("content").GetString(), response.Text);
            Assert.Equal(server.GetProperty("finish_reason").GetString(), response.FinishReason?.Value);
        }
    }

    [Fact]
    public async Task A_json_schema_is_followed_streaming_and_not()
    {
        using var schema = JsonDocument.Parse(PersonSchema);
        var format = ChatResponseFormat.ForJsonSchema(schema.RootElement, "person");
        var response = await fixture.Client.GetResponseAsync(Conversation, Sampled(format));
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        using var doc = JsonDocument.Parse(response.Text);
        var person = doc.RootElement;
        Assert.Equal(["age", "name"], person.EnumerateObject().Select(p => p.Name).Order());
        Assert.Equal(JsonValueKind.String, person.GetProperty("name").ValueKind);
        Assert.True(person.GetProperty("age").TryGetInt64(out _), response.Text);

        var server = await ServerChoice(new JsonObject
        {
            ["type"] = "json_schema",
            ["json_schema"] = new JsonObject { ["name"] = "person", ["schema"] = JsonNode.Parse(PersonSchema) },
        });
        Assert.Equal(server.GetProperty("message").GetProperty("content").GetString(), response.Text);

        var streamed = new StringBuilder();
        await foreach (var update in fixture.Client.GetStreamingResponseAsync(Conversation, Sampled(format)))
            streamed.Append(update.Text);
        Assert.Equal(response.Text, streamed.ToString());
    }

    [Fact]
    public async Task A_schema_the_constraint_cannot_enforce_is_refused_by_name()
    {
        using var schema = JsonDocument.Parse("""{"type":"object","properties":{"code":{"type":"string","pattern":"^[A-Z]+$"}}}""");
        var e = await Assert.ThrowsAsync<NotSupportedException>(() =>
            fixture.Client.GetResponseAsync(Conversation, Sampled(ChatResponseFormat.ForJsonSchema(schema.RootElement))));
        Assert.Contains("ResponseFormat.Schema", e.Message);
        Assert.Contains("pattern", e.Message);
    }
}
