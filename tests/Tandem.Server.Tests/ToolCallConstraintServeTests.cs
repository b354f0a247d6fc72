#pragma warning disable OPENAI001 // Seed is marked experimental in the SDK
using System.ClientModel;
using System.Text;
using OpenAI;
using OpenAI.Chat;
using Tandem.Engine.Gguf;
using Tandem.Engine.Tests;
using Tandem.Engine.Tests.Structured;
using Tandem.Engine.Tokenization;

namespace Tandem.Server.Tests;

/// <summary>
/// Tool calls constrained end to end (issue 14), with the OpenAI .NET SDK's tool types, on the real tiny model
/// (tinyllama-v0, random as far as tools go): with tool_choice "auto" and Llama 3.1's template a reply that opens with
/// <c>{</c> is a call, and a logit bias on <c>{</c> makes the model open one — from there the constraint writes a declared
/// tool's name and arguments valid for that tool's parameters (JsonSchema.Net), whole and streamed, in process and
/// through a cluster of <c>--role</c> processes (the constraint's state follows the tokens to the decode worker). With
/// "required" and two tools the name picks which schema the arguments follow. Without the constraint the biased model
/// wrote <c>{{{{…</c> and the forced call's arguments were any object.
/// </summary>
public sealed class ToolCallConstraintServeTests
{
    private const string WeatherParameters =
        """{"type":"object","properties":{"city":{"enum":["Paris","Oslo","Rome"]},"days":{"type":"integer"},"metric":{"type":"boolean"}},"required":["city","days","metric"],"additionalProperties":false}""";
    private const string TimeParameters =
        """{"type":"object","properties":{"zone":{"enum":["UTC","CET","JST"]},"exact":{"type":"boolean"}},"required":["zone","exact"],"additionalProperties":false}""";
    private static readonly Dictionary<string, string> Parameters = new() { ["get_weather"] = WeatherParameters, ["get_time"] = TimeParameters };

    private static readonly string Llama3Template = ToolArgumentsTests.Template("meta-llama-Llama-3.1-8B-Instruct.jinja");

    /// <summary>The token that is "{" in the test model's vocabulary.</summary>
    private static readonly Lazy<int> Brace = new(() =>
    {
        using var gguf = GgufFile.Open(TestRuntimes.LongContextModelPath);
        var vocab = Tokenizer.FromGguf(gguf).Vocabulary;
        return Enumerable.Range(0, vocab.Count).First(t => !vocab.IsHiddenUnlessSpecial(t) && vocab.Piece(t).AsSpan().SequenceEqual("{"u8));
    });

    private static ChatCompletionOptions Options(ChatToolChoice choice, int seed, bool favourBrace)
    {
        // Values without free strings, so that every call ends well within the budget; one call per reply.
        var options = new ChatCompletionOptions { Temperature = 1, Seed = seed, MaxOutputTokenCount = 250, ToolChoice = choice, AllowParallelToolCalls = false };
        options.Tools.Add(ChatTool.CreateFunctionTool("get_weather", "Weather in a city", BinaryData.FromString(WeatherParameters)));
        options.Tools.Add(ChatTool.CreateFunctionTool("get_time", "Time in a zone", BinaryData.FromString(TimeParameters)));
        if (favourBrace) options.LogitBiases[Brace.Value] = 100;
        return options;
    }

    /// <summary>
    /// For each seed, non-streamed then streamed: the reply is one call of a declared tool whose arguments validate
    /// against that tool's parameters, and the stream's deltas add up to the same call.
    /// </summary>
    private static async Task AssertEveryReplyIsAValidCallAsync(ChatClient chat, ChatToolChoice choice, bool favourBrace, int seeds)
    {
        for (int seed = 1; seed <= seeds; seed++)
        {
            ChatMessage[] messages = [new UserChatMessage("What is the weather like, and the time?")];
            ChatCompletion c = await chat.CompleteChatAsync(messages, Options(choice, seed, favourBrace));
            Assert.True(c.FinishReason == ChatFinishReason.ToolCalls,
                $"seed {seed}: finish {c.FinishReason}, content '{string.Concat(c.Content.Select(p => p.Text))}'");
            var call = Assert.Single(c.ToolCalls);
            Assert.True(Parameters.TryGetValue(call.FunctionName, out string? schema), $"'{call.FunctionName}' is not a declared tool");
            StructuredOutputAssert.Valid(schema, call.FunctionArguments.ToString());

            string? name = null;
            var arguments = new StringBuilder();
            var content = new StringBuilder();
            ChatFinishReason? finish = null;
            await foreach (var update in chat.CompleteChatStreamingAsync(messages, Options(choice, seed, favourBrace)))
            {
                foreach (var part in update.ContentUpdate) content.Append(part.Text);
                foreach (var t in update.ToolCallUpdates)
                {
                    Assert.Equal(0, t.Index);
                    name ??= t.FunctionName;
                    arguments.Append(t.FunctionArgumentsUpdate?.ToString());
                }
                finish ??= update.FinishReason;
            }
            Assert.True(finish == ChatFinishReason.ToolCalls, $"seed {seed} streamed: finish {finish}, content '{content}'");
            Assert.Equal(call.FunctionName, name);
            Assert.Equal(call.FunctionArguments.ToString(), arguments.ToString());
        }
    }

    [Fact]
    public async Task Auto_calls_are_constrained_from_the_moment_the_reply_opens_one()
    {
        await using var server = await RunningServer.StartAsync(mode: "colocated", chatTemplate: null,
            configure: o => o.ChatTemplateFile = Llama3Template, modelPath: TestRuntimes.LongContextModelPath);
        await AssertEveryReplyIsAValidCallAsync(server.Client.GetChatClient(RunningServer.ModelName), ChatToolChoice.CreateAutoChoice(), favourBrace: true, seeds: 3);
    }

    [Fact]
    public async Task Required_with_several_tools_writes_arguments_valid_for_the_tool_it_names()
    {
        // Tandem's ChatML: Hermes calls, forced by "<tool_call>\n" at the end of the prompt.
        await using var server = await RunningServer.StartAsync(mode: "colocated", chatTemplate: null, modelPath: TestRuntimes.LongContextModelPath);
        await AssertEveryReplyIsAValidCallAsync(server.Client.GetChatClient(RunningServer.ModelName), ChatToolChoice.CreateRequiredChoice(), favourBrace: false, seeds: 4);
    }

    [Fact]
    public async Task Auto_calls_stay_constrained_across_the_processes_of_a_cluster()
    {
        string[] model = ["--model", TestRuntimes.LongContextModelPath];
        using var cluster = await LocalCluster.StartAsync(1, 1, workerArguments: model, frontendArguments: [.. model, "--served-model-name", RunningServer.ModelName, "--chat-template-file", Llama3Template]);
        var client = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(cluster.Frontend.Address, "/v1") });
        await AssertEveryReplyIsAValidCallAsync(client.GetChatClient(RunningServer.ModelName), ChatToolChoice.CreateAutoChoice(), favourBrace: true, seeds: 2);
    }
}
