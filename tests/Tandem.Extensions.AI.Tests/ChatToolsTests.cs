using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;

namespace Tandem.Extensions.AI.Tests;

/// <summary>
/// <see cref="ChatOptions.Tools"/> and <see cref="ChatOptions.ToolMode"/> on a real model in process (tinyllama-v0,
/// greedy): tools rendered into the prompt and a forced call constrained and read back as
/// <see cref="FunctionCallContent"/> exactly as the server does it over HTTP, whole and streamed; and a
/// <c>UseFunctionInvocation()</c> pipeline that runs a real C# function and feeds its result back to the model.
/// </summary>
public sealed class ChatToolsTests(ToolsFixture fixture) : IClassFixture<ToolsFixture>
{
    private const string WeatherSchema = """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""";

    private static readonly ChatMessage[] Conversation = [new(ChatRole.User, "What is the weather in Paris?")];

    private static AIFunctionDeclaration Declared(string name, string description) =>
        AIFunctionFactory.CreateDeclaration(name, description, JsonDocument.Parse(WeatherSchema).RootElement);

    private static ChatOptions WithTools(ChatToolMode? mode) => new()
    {
        Temperature = 0,
        MaxOutputTokens = 200,
        Tools = [Declared("get_weather", "Current weather in a city"), Declared("get_time", "Local time in a city")],
        ToolMode = mode,
    };

    /// <summary>The same request over HTTP: the tools as OpenAI tool objects, and <paramref name="toolChoice"/>.</summary>
    private async Task<JsonElement> ServerAnswer(JsonNode toolChoice, JsonArray? messages = null, params AIFunctionDeclaration[] functions)
    {
        var tools = new JsonArray();
        foreach (var function in functions.Length > 0 ? functions : WithTools(null).Tools!.Cast<AIFunctionDeclaration>())
        {
            tools.Add(new JsonObject
            {
                ["type"] = "function",
                ["function"] = new JsonObject { ["name"] = function.Name, ["description"] = function.Description, ["parameters"] = JsonNode.Parse(function.JsonSchema.GetRawText()) },
            });
        }
        var body = new JsonObject
        {
            ["model"] = InProcessFixture.ModelName,
            ["messages"] = messages ?? new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "What is the weather in Paris?" }),
            ["temperature"] = 0,
            ["max_tokens"] = 200,
            ["tools"] = tools,
            ["tool_choice"] = toolChoice,
        };
        using var http = await fixture.Http.PostAsJsonAsync("/v1/chat/completions", body);
        var json = await http.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(http.IsSuccessStatusCode, json.ToString());
        return json.Clone();
    }

    private static JsonObject Named(string function) =>
        new() { ["type"] = "function", ["function"] = new JsonObject { ["name"] = function } };

    [Fact]
    public async Task A_required_function_comes_back_as_the_function_call_the_server_makes()
    {
        var response = await fixture.Client.GetResponseAsync(Conversation, WithTools(ChatToolMode.RequireSpecific("get_time")));
        Assert.Equal(ChatFinishReason.ToolCalls, response.FinishReason);
        var call = Assert.Single(Assert.Single(response.Messages).Contents.OfType<FunctionCallContent>());
        Assert.Equal("get_time", call.Name);
        Assert.StartsWith("call_", call.CallId);
        Assert.Null(call.Exception);
        var city = Assert.IsType<JsonElement>(Assert.Single(call.Arguments!, a => a.Key == "city").Value);
        Assert.Equal(JsonValueKind.String, city.ValueKind);

        var server = await ServerAnswer(Named("get_time"));
        var choice = server.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        var function = choice.GetProperty("message").GetProperty("tool_calls")[0].GetProperty("function");
        Assert.Equal("get_time", function.GetProperty("name").GetString());
        Assert.Equal(JsonDocument.Parse(function.GetProperty("arguments").GetString()!).RootElement.GetProperty("city").GetString(), city.GetString());
        Assert.Equal(server.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), response.Usage!.InputTokenCount);

        // RequireAny forces a call to one of the tools, streamed as one FunctionCallContent.
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in fixture.Client.GetStreamingResponseAsync(Conversation, WithTools(ChatToolMode.RequireAny)))
            updates.Add(update);
        Assert.Equal(ChatFinishReason.ToolCalls, updates[^1].FinishReason);
        var streamed = Assert.Single(updates.SelectMany(u => u.Contents).OfType<FunctionCallContent>());
        Assert.Contains(streamed.Name, new[] { "get_weather", "get_time" });
        Assert.Equal("", string.Concat(updates.Select(u => u.Text)).Trim());
        var whole = await fixture.Client.GetResponseAsync(Conversation, WithTools(ChatToolMode.RequireAny));
        var wholeCall = Assert.Single(whole.Messages[0].Contents.OfType<FunctionCallContent>());
        Assert.Equal(wholeCall.Name, streamed.Name);
        Assert.Equal(JsonSerializer.Serialize(wholeCall.Arguments), JsonSerializer.Serialize(streamed.Arguments));
    }

    [Fact]
    public async Task With_auto_the_tools_are_in_the_prompt_and_with_none_they_are_not()
    {
        var auto = await fixture.Client.GetResponseAsync(Conversation, WithTools(null));
        var server = await ServerAnswer("auto");
        Assert.Equal(server.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), auto.Usage!.InputTokenCount);
        Assert.Equal(server.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString() ?? "", auto.Text);

        var none = await fixture.Client.GetResponseAsync(Conversation, WithTools(ChatToolMode.None));
        var plain = await fixture.Client.GetResponseAsync(Conversation, new ChatOptions { Temperature = 0, MaxOutputTokens = 200 });
        Assert.Equal(plain.Usage!.InputTokenCount, none.Usage!.InputTokenCount);
        Assert.True(auto.Usage.InputTokenCount > none.Usage.InputTokenCount + 50, $"{auto.Usage.InputTokenCount} vs {none.Usage.InputTokenCount}");
        Assert.Equal(plain.Text, none.Text);
        Assert.Empty(none.Messages[0].Contents.OfType<FunctionCallContent>());
    }

    [Fact]
    public async Task UseFunctionInvocation_runs_the_forced_call_and_the_model_answers_with_its_result()
    {
        var cities = new List<string>();
        // The city is one of a C# enum's names (its schema an "enum" the constraint keeps the call to): a free string
        // from this tiny model, greedy, runs past any small token budget.
        var weather = AIFunctionFactory.Create((City city) => { cities.Add(city.ToString()); return $"Sunny and 21 degrees in {city}"; }, "get_weather", "Current weather in a city");
        var seen = new List<List<ChatMessage>>();
        using var client = new ChatClientBuilder(fixture.Client)
            .UseFunctionInvocation()
            .Use(async (messages, options, next, cancellationToken) => // what reaches Tandem on each round
            {
                seen.Add([.. messages]);
                await next(messages, options, cancellationToken);
            })
            .Build();

        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 200, Tools = [weather], ToolMode = ChatToolMode.RequireSpecific("get_weather") };
        var response = await client.GetResponseAsync(Conversation, options);

        Assert.True(cities.Count == 1, string.Join("\n", response.Messages.Select(m => $"{m.Role}: {string.Join(" | ", m.Contents.Select(c => c is FunctionCallContent f ? $"call {f.Name} {JsonSerializer.Serialize(f.Arguments)} {f.Exception}" : c.ToString()))}")) + response.FinishReason);
        string city = cities[0]; // the model's call ran the C# function once
        Assert.True(seen.Count >= 2, $"{seen.Count} rounds");
        // The second round carried the call and its result back to the model, as a tool message after the call.
        var call = Assert.Single(seen[1].SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        var result = Assert.Single(seen[1].SelectMany(m => m.Contents).OfType<FunctionResultContent>());
        Assert.Equal(call.CallId, result.CallId);
        Assert.Equal(city, Assert.IsType<JsonElement>(call.Arguments!["city"]).GetString());
        Assert.Contains(response.Messages, m => m.Contents.OfType<FunctionResultContent>().Any());
        Assert.Equal(ChatRole.Assistant, response.Messages[^1].Role);

        // That round's prompt is the one the server renders for the same conversation in OpenAI's shape: the result
        // went into the prompt as a tool message, and the model's answer is the server's answer to it.
        string arguments = JsonSerializer.Serialize(call.Arguments, AIJsonUtilities.DefaultOptions);
        string resultText = result.Result as string ?? JsonSerializer.Serialize(result.Result, AIJsonUtilities.DefaultOptions);
        Assert.Contains($"Sunny and 21 degrees in {city}", resultText);
        var messages = new JsonArray(
            new JsonObject { ["role"] = "user", ["content"] = "What is the weather in Paris?" },
            new JsonObject
            {
                ["role"] = "assistant",
                ["content"] = null,
                ["tool_calls"] = new JsonArray(new JsonObject
                {
                    ["id"] = call.CallId,
                    ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = "get_weather", ["arguments"] = arguments },
                }),
            },
            new JsonObject { ["role"] = "tool", ["tool_call_id"] = call.CallId, ["content"] = resultText });
        var inProcess = await fixture.Client.GetResponseAsync(seen[1], new ChatOptions { Temperature = 0, MaxOutputTokens = 200, Tools = [weather] });
        var server = await ServerAnswer("auto", messages, weather);
        Assert.Equal(server.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), inProcess.Usage!.InputTokenCount);
        Assert.Equal(server.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString() ?? "", inProcess.Text);
    }

    public enum City { Paris, London, Tokyo }

    [Fact]
    public async Task Tool_options_that_cannot_work_are_refused()
    {
        var unknown = await Assert.ThrowsAsync<ArgumentException>(() => fixture.Client.GetResponseAsync(Conversation, WithTools(ChatToolMode.RequireSpecific("get_news"))));
        Assert.Contains("get_news", unknown.Message);
        var noTools = await Assert.ThrowsAsync<ArgumentException>(() => fixture.Client.GetResponseAsync(Conversation, new ChatOptions { ToolMode = ChatToolMode.RequireAny }));
        Assert.Contains("Tools", noTools.Message);
        var forcedJson = WithTools(ChatToolMode.RequireAny);
        forcedJson.ResponseFormat = ChatResponseFormat.Json;
        var both = await Assert.ThrowsAsync<ArgumentException>(() => fixture.Client.GetResponseAsync(Conversation, forcedJson));
        Assert.Contains("ResponseFormat", both.Message);
        var hosted = await Assert.ThrowsAsync<NotSupportedException>(() => fixture.Client.GetResponseAsync(Conversation, new ChatOptions { Tools = [new HostedWebSearchTool()] }));
        Assert.Contains("HostedWebSearchTool", hosted.Message);
    }
}
