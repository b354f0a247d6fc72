using Tandem.Engine.Tests;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenAI.Chat;
using Tandem.Engine.Chat;

namespace Tandem.Server.Tests;

/// <summary>A server over tinyllama-v0 (no template of its own: Tandem's ChatML with Hermes tools) whose replies are scripted (<see cref="ScriptedReplyEngine"/>).</summary>
public sealed class ToolServerFixture : IAsyncLifetime
{
    public RunningServer Server { get; private set; } = null!;
    public ScriptedReplyEngine Engine { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await RunningServer.StartAsync(mode: "colocated", chatTemplate: null,
        wrapEngine: e => Engine = new ScriptedReplyEngine(e), modelPath: TestRuntimes.LongContextModelPath);

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// Tool calling end to end with the OpenAI .NET SDK's tool types: tools rendered into the prompt by the template,
/// the model's reply read back as <c>tool_calls</c> (whole and streamed), tool results fed back, and tool_choice.
/// </summary>
public sealed class ToolCallingTests(ToolServerFixture fixture) : IClassFixture<ToolServerFixture>
{
    private ChatClient Chat => fixture.Server.Client.GetChatClient(RunningServer.ModelName);

    private const string WeatherSchema = """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""";

    private static ChatCompletionOptions WithTools(ChatToolChoice? choice = null)
    {
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 200 };
        options.Tools.Add(ChatTool.CreateFunctionTool("get_weather", "Current weather in a city", BinaryData.FromString(WeatherSchema)));
        options.Tools.Add(ChatTool.CreateFunctionTool("get_time", "Local time in a city", BinaryData.FromString(WeatherSchema)));
        if (choice is not null) options.ToolChoice = choice;
        return options;
    }

    /// <summary>The prompt the runtime got, as text.</summary>
    private string Prompt() => fixture.Engine.Tokenizer.Decode(fixture.Engine.LastRequest.PromptTokens, renderSpecial: true);

    /// <summary>The prompt lists both tools in the Hermes tool prompt and ends with <paramref name="tail"/>.</summary>
    private void AssertPromptHasToolsAndEndsWith(string tail)
    {
        string prompt = Prompt();
        Assert.Contains("# Tools\n\nYou may call one or more functions to assist with the user query.", prompt);
        Assert.Contains("<tools>\n{\"type\": \"function\", \"function\": {", prompt);
        Assert.Contains("\"name\": \"get_weather\"", prompt);
        Assert.Contains("\"description\": \"Local time in a city\"", prompt);
        Assert.Contains("\"required\": [\"city\"]", prompt);
        Assert.EndsWith(tail, prompt);
    }

    [Fact]
    public async Task A_hermes_tool_call_comes_back_as_tool_calls()
    {
        fixture.Engine.Reply = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
        ChatCompletion c = await Chat.CompleteChatAsync([new UserChatMessage("Weather in Paris?")], WithTools());

        Assert.Equal(ChatFinishReason.ToolCalls, c.FinishReason);
        var call = Assert.Single(c.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        Assert.StartsWith("call_", call.Id);
        Assert.Equal("Paris", JsonDocument.Parse(call.FunctionArguments).RootElement.GetProperty("city").GetString());
        Assert.Empty(c.Content);
        AssertPromptHasToolsAndEndsWith("<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n");
    }

    [Fact]
    public async Task Streamed_calls_arrive_as_tool_call_deltas_after_the_text_before_them()
    {
        fixture.Engine.Reply = "Checking both.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>";
        var content = new StringBuilder();
        var names = new Dictionary<int, string>();
        var arguments = new Dictionary<int, StringBuilder>();
        var ids = new HashSet<string>();
        ChatFinishReason? finish = null;
        await foreach (var update in Chat.CompleteChatStreamingAsync([new UserChatMessage("Weather and time in Oslo?")], WithTools()))
        {
            foreach (var part in update.ContentUpdate) content.Append(part.Text);
            foreach (var t in update.ToolCallUpdates)
            {
                if (t.FunctionName is not null) names[t.Index] = t.FunctionName;
                if (t.ToolCallId is not null) ids.Add(t.ToolCallId);
                (arguments.TryGetValue(t.Index, out var sb) ? sb : arguments[t.Index] = new StringBuilder()).Append(t.FunctionArgumentsUpdate?.ToString());
            }
            finish ??= update.FinishReason;
        }
        Assert.Equal("Checking both.\n", content.ToString());
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        Assert.Equal("get_weather", names[0]);
        Assert.Equal("get_time", names[1]);
        Assert.Equal(2, ids.Count);
        Assert.Equal("Oslo", JsonDocument.Parse(arguments[1].ToString()).RootElement.GetProperty("city").GetString());
    }

    [Fact]
    public async Task Tool_results_are_fed_back_through_the_template()
    {
        fixture.Engine.Reply = "It is 21 degrees and clear in Paris.";
        ChatCompletion c = await Chat.CompleteChatAsync(
        [
            new UserChatMessage("Weather in Paris?"),
            new AssistantChatMessage([OpenAI.Chat.ChatToolCall.CreateFunctionToolCall("call_1", "get_weather", BinaryData.FromString("{\"city\":\"Paris\"}"))]),
            new ToolChatMessage("call_1", "{\"temperature\": 21}"),
        ], WithTools());

        Assert.Equal(ChatFinishReason.Stop, c.FinishReason);
        Assert.Equal("It is 21 degrees and clear in Paris.", c.Content[0].Text);
        Assert.Empty(c.ToolCalls);
        AssertPromptHasToolsAndEndsWith("<|im_start|>user\nWeather in Paris?<|im_end|>\n" +
            "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n" +
            "<|im_start|>tool\n<tool_response>\n{\"temperature\": 21}\n</tool_response><|im_end|>\n<|im_start|>assistant\n");
    }

    [Fact]
    public async Task Required_and_named_tool_choice_force_a_call_by_writing_its_start_and_constraining_it()
    {
        fixture.Engine.Reply = "{\"name\": \"get_time\", \"arguments\": {\"city\": \"Rome\"}}";
        ChatCompletion required = await Chat.CompleteChatAsync([new UserChatMessage("Time in Rome?")], WithTools(ChatToolChoice.CreateRequiredChoice()));
        Assert.Equal("get_time", Assert.Single(required.ToolCalls).FunctionName);
        AssertPromptHasToolsAndEndsWith("<|im_start|>user\nTime in Rome?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n");
        Assert.NotNull(fixture.Engine.LastRequest.StructuredOutput); // the call is constrained (its arguments' schema: ToolArgumentsTests)

        fixture.Engine.Reply = "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}";
        ChatCompletion named = await Chat.CompleteChatAsync([new UserChatMessage("Weather in Rome?")], WithTools(ChatToolChoice.CreateFunctionChoice("get_weather")));
        var call = Assert.Single(named.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        Assert.Equal("{\"city\": \"Rome\"}", call.FunctionArguments.ToString());
        Assert.Equal(ChatFinishReason.ToolCalls, named.FinishReason);
        Assert.NotNull(fixture.Engine.LastRequest.StructuredOutput);
    }

    [Fact]
    public async Task Tool_choice_none_hides_the_tools_and_reads_no_calls()
    {
        fixture.Engine.Reply = "<tool_call>{\"name\": \"get_weather\", \"arguments\": {}}</tool_call>";
        ChatCompletion c = await Chat.CompleteChatAsync([new UserChatMessage("Hi")], WithTools(ChatToolChoice.CreateNoneChoice()));
        Assert.Empty(c.ToolCalls);
        Assert.Equal(fixture.Engine.Reply, c.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, c.FinishReason);
        Assert.DoesNotContain("get_weather", Prompt());
        Assert.EndsWith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", Prompt());
    }

    [Fact]
    public async Task Parallel_tool_calls_false_keeps_the_first_call()
    {
        fixture.Engine.Reply = "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"A\"}}</tool_call><tool_call>{\"name\": \"get_time\", \"arguments\": {\"city\": \"B\"}}</tool_call>";
        var options = WithTools();
        options.AllowParallelToolCalls = false;
        ChatCompletion c = await Chat.CompleteChatAsync([new UserChatMessage("Both?")], options);
        Assert.Equal("get_weather", Assert.Single(c.ToolCalls).FunctionName);
    }

    [Theory]
    [InlineData("""{"tool_choice":{"type":"function","function":{"name":"nope"}}}""", "tool_choice")]
    [InlineData("""{"tool_choice":"sometimes"}""", "tool_choice")]
    [InlineData("""{"tools":[{"type":"function","function":{"description":"no name"}}]}""", "tools[0].function.name")]
    [InlineData("""{"tools":[{"type":"retrieval"}]}""", "tools[0]")]
    [InlineData("""{"chat_template_kwargs":{"messages":[]}}""", "chat_template_kwargs")]
    [InlineData("""{"chat_template_kwargs":"x"}""", "chat_template_kwargs")]
    [InlineData("""{"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"n":{"type":"integer","minimum":1}}}}}],"tool_choice":{"type":"function","function":{"name":"f"}}}""",
        "tools[0].function.parameters.properties.n.minimum")]
    [InlineData("""{"tool_choice":"required","response_format":{"type":"json_object"}}""", "response_format")]
    public async Task Bad_tool_fields_are_400_naming_the_field(string fields, string param)
    {
        var body = new JsonObject
        {
            ["model"] = RunningServer.ModelName,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi" }),
            ["tools"] = JsonNode.Parse("[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":" + WeatherSchema + "}}]"),
        };
        foreach (var (k, v) in JsonNode.Parse(fields)!.AsObject())
            body[k] = v?.DeepClone();
        var reply = await fixture.Server.Http.PostAsync("/v1/chat/completions", body);
        ApiCalls.AssertError(reply, HttpStatusCode.BadRequest, param);
        var ok = await fixture.Server.Http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 2));
        Assert.Equal(HttpStatusCode.OK, ok.Status);
    }
}

/// <summary>The Llama 3.1 and Mistral Nemo templates (real ones, from the Jinja fixtures) through the server: their tool prompts, and replies in their formats read back as calls.</summary>
public sealed class ModelTemplateToolCallingTests
{
    private static string Fixture(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "Tandem.Engine.Tests", "Chat", "Jinja", "Fixtures", "templates", name);

    [Theory]
    [InlineData("meta-llama-Llama-3.1-8B-Instruct.jinja", "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", "Environment: ipython")]
    [InlineData("mistralai-Mistral-Nemo-Instruct-2407.jinja", "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"abc123XYZ\"}]", "[AVAILABLE_TOOLS]")]
    [InlineData("Qwen-Qwen2.5-7B-Instruct.jinja", "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", "<tools>")]
    public async Task Calls_in_the_models_format_come_back_as_tool_calls(string template, string reply, string toolPromptMarker)
    {
        ScriptedReplyEngine engine = null!;
        var server = await RunningServer.StartAsync(mode: "colocated", chatTemplate: null,
            configure: o => o.ChatTemplateFile = Fixture(template), wrapEngine: e => engine = new ScriptedReplyEngine(e) { Reply = reply }, modelPath: TestRuntimes.LongContextModelPath);
        try
        {
            var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 100 };
            options.Tools.Add(ChatTool.CreateFunctionTool("get_weather", "Current weather", BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}}}""")));
            ChatCompletion c = await server.Client.GetChatClient(RunningServer.ModelName).CompleteChatAsync([new UserChatMessage("Weather in Paris?")], options);
            var call = Assert.Single(c.ToolCalls);
            Assert.Equal("get_weather", call.FunctionName);
            Assert.Equal("Paris", JsonDocument.Parse(call.FunctionArguments).RootElement.GetProperty("city").GetString());
            Assert.Equal(ChatFinishReason.ToolCalls, c.FinishReason);
            string prompt = engine.Tokenizer.Decode(engine.LastRequest.PromptTokens, renderSpecial: true);
            Assert.Contains(toolPromptMarker, prompt);
            Assert.Contains("get_weather", prompt);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    /// <summary><c>chat_template_kwargs</c> reach the template: Qwen3's enable_thinking=false closes an empty think block in the prompt.</summary>
    [Fact]
    public async Task Chat_template_kwargs_pass_through()
    {
        ScriptedReplyEngine engine = null!;
        var server = await RunningServer.StartAsync(mode: "colocated", chatTemplate: null,
            configure: o => o.ChatTemplateFile = Fixture("Qwen-Qwen3-0.6B.jinja"), wrapEngine: e => engine = new ScriptedReplyEngine(e) { Reply = "Tokyo." }, modelPath: TestRuntimes.LongContextModelPath);
        try
        {
            var body = new JsonObject
            {
                ["model"] = RunningServer.ModelName,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Capital of Japan?" }),
                ["max_tokens"] = 10,
            };
            Assert.Equal(HttpStatusCode.OK, (await server.Http.PostAsync("/v1/chat/completions", body)).Status);
            Assert.DoesNotContain("<think>", engine.Tokenizer.Decode(engine.LastRequest.PromptTokens, renderSpecial: true));
            body["chat_template_kwargs"] = new JsonObject { ["enable_thinking"] = false };
            var reply = await server.Http.PostAsync("/v1/chat/completions", body);
            Assert.Equal(HttpStatusCode.OK, reply.Status);
            Assert.EndsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n", engine.Tokenizer.Decode(engine.LastRequest.PromptTokens, renderSpecial: true));
            Assert.Equal("Tokyo.", reply.Body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
