using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;

namespace Tandem.Extensions.AI.Tests;

/// <summary>
/// <see cref="TandemChatClient"/> against <c>/v1/chat/completions</c> on the same runtime: the same request (messages,
/// temperature, top-p, top-k, seed, max tokens, stop) gets the same text, finish reason and token counts.
/// </summary>
public sealed class TandemChatClientTests(InProcessFixture fixture) : IClassFixture<InProcessFixture>
{
    private static readonly ChatMessage[] Conversation =
    [
        new(ChatRole.System, "You tell short stories."),
        new(ChatRole.User, "Once upon a time"),
    ];

    public static TheoryData<string> Requests => new() { "greedy", "sampled", "stop" };

    /// <summary>One request both ways: the client's options, and the JSON body the server gets for them.</summary>
    private static (ChatOptions Options, JsonObject Body) Request(string name)
    {
        var body = new JsonObject
        {
            ["model"] = InProcessFixture.ModelName,
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "system", ["content"] = "You tell short stories." },
                new JsonObject { ["role"] = "user", ["content"] = "Once upon a time" }),
        };
        ChatOptions options;
        switch (name)
        {
            case "greedy":
                options = new ChatOptions { Temperature = 0, MaxOutputTokens = 20 };
                body["temperature"] = 0;
                body["max_tokens"] = 20;
                break;
            case "sampled":
                options = new ChatOptions { Temperature = 0.9f, TopP = 0.9f, TopK = 40, Seed = 1234, MaxOutputTokens = 32, PresencePenalty = 0.5f };
                body["temperature"] = 0.9f;
                body["top_p"] = 0.9f;
                body["top_k"] = 40;
                body["seed"] = 1234;
                body["max_tokens"] = 32;
                body["presence_penalty"] = 0.5f;
                break;
            default:
                options = new ChatOptions { Temperature = 0, MaxOutputTokens = 60, StopSequences = ["Lily"] };
                body["temperature"] = 0;
                body["max_tokens"] = 60;
                body["stop"] = new JsonArray("Lily");
                break;
        }
        return (options, body);
    }

    [Theory]
    [MemberData(nameof(Requests))]
    public async Task A_response_equals_what_the_server_answers_to_the_same_request(string name)
    {
        var (options, body) = Request(name);
        var response = await fixture.Client.GetResponseAsync(Conversation, options);

        using var http = await fixture.Http.PostAsJsonAsync("/v1/chat/completions", body);
        var json = await http.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(http.IsSuccessStatusCode, json.ToString());
        var choice = json.GetProperty("choices")[0];
        Assert.Equal(choice.GetProperty("message").GetProperty("content").GetString(), response.Text);
        Assert.Equal(choice.GetProperty("finish_reason").GetString(), response.FinishReason?.Value);
        Assert.Equal(json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), response.Usage?.InputTokenCount);
        Assert.Equal(json.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), response.Usage?.OutputTokenCount);
        Assert.Equal(InProcessFixture.ModelName, response.ModelId);
        Assert.Equal(ChatRole.Assistant, Assert.Single(response.Messages).Role);
        Assert.NotEmpty(response.Text);
        if (name == "stop")
        {
            Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
            Assert.DoesNotContain("Lily", response.Text);
        }
    }

    [Fact]
    public async Task Streaming_gives_the_same_text_then_the_finish_reason_and_usage()
    {
        var (options, _) = Request("sampled");
        var expected = await fixture.Client.GetResponseAsync(Conversation, options);

        var text = new StringBuilder();
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in fixture.Client.GetStreamingResponseAsync(Conversation, options))
        {
            updates.Add(update);
            text.Append(update.Text);
        }
        Assert.Equal(expected.Text, text.ToString());
        Assert.True(updates.Count > 3);
        Assert.All(updates, u => Assert.Equal(ChatRole.Assistant, u.Role));
        Assert.Single(updates.Select(u => u.ResponseId).Distinct());
        Assert.Equal(expected.FinishReason, updates[^1].FinishReason);
        var usage = Assert.Single(updates.SelectMany(u => u.Contents).OfType<UsageContent>());
        Assert.Equal(expected.Usage!.OutputTokenCount, usage.Details.OutputTokenCount);
        // The updates fold back into one response, as Microsoft.Extensions.AI's helpers do it.
        Assert.Equal(expected.Text, updates.ToChatResponse().Text);
    }

    [Fact]
    public async Task Instructions_are_the_system_prompt()
    {
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 16, Instructions = "You tell short stories." };
        var withInstructions = await fixture.Client.GetResponseAsync([new ChatMessage(ChatRole.User, "Once upon a time")], options);
        var withSystem = await fixture.Client.GetResponseAsync(Conversation, new ChatOptions { Temperature = 0, MaxOutputTokens = 16 });
        Assert.Equal(withSystem.Text, withInstructions.Text);
        Assert.Equal(withSystem.Usage!.InputTokenCount, withInstructions.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task What_the_runtime_cannot_do_is_refused_not_ignored()
    {
        var tools = await Assert.ThrowsAsync<NotSupportedException>(() => fixture.Client.GetResponseAsync(Conversation, new ChatOptions { Tools = [new HostedCodeInterpreterTool()] }));
        Assert.Contains("Tools[0]", tools.Message);
        var image = new ChatMessage(ChatRole.User, [new DataContent(new byte[] { 1, 2, 3 }, "image/png")]);
        await Assert.ThrowsAsync<NotSupportedException>(() => fixture.Client.GetResponseAsync([image]));
        var tooLong = await Assert.ThrowsAsync<ArgumentException>(() => fixture.Client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 100_000 }));
        Assert.Contains("context", tooLong.Message);
        // Text is fine again afterwards: nothing was left queued.
        var ok = await fixture.Client.GetResponseAsync(Conversation, new ChatOptions { Temperature = 0, MaxOutputTokens = 4 });
        Assert.Equal(4, ok.Usage!.OutputTokenCount);
        Assert.Equal("tandem", fixture.Client.GetService<ChatClientMetadata>()!.ProviderName);
    }

    [Fact]
    public async Task Cancelling_a_stream_ends_it_and_frees_the_request()
    {
        using var cts = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in fixture.Client.GetStreamingResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 400 }, cts.Token))
            {
                if (++seen == 3) cts.Cancel();
            }
        });
        Assert.True(seen >= 3);
        // The runtime has nothing of it left: a full-context request still fits its KV.
        var after = await fixture.Client.GetResponseAsync(Conversation, new ChatOptions { Temperature = 0, MaxOutputTokens = 8 });
        Assert.Equal(8, after.Usage!.OutputTokenCount);
    }
}
