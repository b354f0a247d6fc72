using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenAI.Chat;
using Tandem.Engine.Chat;

namespace Tandem.Server.Tests;

#pragma warning disable OPENAI001 // Seed is marked experimental in the SDK

public sealed class ChatTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private ChatClient Chat => fixture.Server.Client.GetChatClient(RunningServer.ModelName);

    private static readonly OpenAI.Chat.ChatMessage[] Conversation =
    [
        new SystemChatMessage("You tell short stories."),
        new UserChatMessage("Once upon a time"),
    ];

    /// <summary>What the chatml template makes of <see cref="Conversation"/>: the completions endpoint must continue it identically.</summary>
    private static string RenderedConversation() => ChatTemplate.Resolve("chatml", null).Render(
        [Tandem.Engine.Chat.ChatMessage.System("You tell short stories."), Tandem.Engine.Chat.ChatMessage.User("Once upon a time")]);

    [Fact]
    public async Task Sdk_parses_a_greedy_chat_completion_rendered_with_the_chosen_template()
    {
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 20 };
        ChatCompletion completion = await Chat.CompleteChatAsync(Conversation, options);

        Assert.StartsWith("chatcmpl-", completion.Id);
        Assert.Equal(RunningServer.ModelName, completion.Model);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(20, completion.Usage.OutputTokenCount);
        Assert.Equal(completion.Usage.InputTokenCount + 20, completion.Usage.TotalTokenCount);
        string text = Assert.Single(completion.Content).Text;

        var viaCompletions = await fixture.Server.Http.PostAsync("/v1/completions", ApiCalls.Completion(RenderedConversation(), 20));
        Assert.Equal(viaCompletions.Body.GetProperty("choices")[0].GetProperty("text").GetString(), text);
        Assert.Equal(viaCompletions.Body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), completion.Usage.InputTokenCount);
    }

    [Fact]
    public async Task Sdk_streams_the_same_text_with_role_finish_and_usage()
    {
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 20 };
        string expected = (await Chat.CompleteChatAsync(Conversation, options)).Value.Content[0].Text;

        var text = new StringBuilder();
        ChatFinishReason? finish = null;
        ChatMessageRole? role = null;
        ChatTokenUsage? usage = null;
        int updates = 0;
        await foreach (var update in Chat.CompleteChatStreamingAsync(Conversation, options))
        {
            updates++;
            role ??= update.Role;
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }
        Assert.Equal(expected, text.ToString());
        Assert.Equal(ChatMessageRole.Assistant, role);
        Assert.Equal(ChatFinishReason.Length, finish);
        Assert.True(updates > 3);
        // The SDK asks for stream_options.include_usage on every streamed call, so the usage chunk must come.
        Assert.NotNull(usage);
        Assert.Equal(20, usage.OutputTokenCount);
    }

    [Fact]
    public async Task Raw_stream_has_openai_chunk_shapes_and_usage_when_asked()
    {
        var request = new JsonObject
        {
            ["model"] = RunningServer.ModelName,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Once upon a time" }),
            ["max_completion_tokens"] = 10,
            ["temperature"] = 0,
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
        };
        var events = await fixture.Server.Http.StreamAsync("/v1/chat/completions", request);
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        var first = chunks[0].GetProperty("choices")[0].GetProperty("delta");
        Assert.Equal("assistant", first.GetProperty("role").GetString());
        var last = chunks[^2].GetProperty("choices")[0];
        Assert.Equal("length", last.GetProperty("finish_reason").GetString());
        Assert.Equal(10, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Empty(chunks[^1].GetProperty("choices").EnumerateArray());
    }

    [Fact]
    public async Task Sdk_reads_logprobs_with_top_alternatives()
    {
        var options = new ChatCompletionOptions
        {
            Temperature = 0,
            MaxOutputTokenCount = 6,
            IncludeLogProbabilities = true,
            TopLogProbabilityCount = 2,
        };
        ChatCompletion completion = await Chat.CompleteChatAsync(Conversation, options);
        var details = completion.ContentTokenLogProbabilities;
        Assert.Equal(6, details.Count);
        Assert.Equal(completion.Content[0].Text, string.Concat(details.Select(d => d.Token)));
        foreach (var d in details)
        {
            Assert.True(d.LogProbability <= 0);
            Assert.Equal(2, d.TopLogProbabilities.Count);
            Assert.Equal(d.TopLogProbabilities[0].LogProbability, d.LogProbability, 5); // greedy takes the top one
            Assert.Equal(Encoding.UTF8.GetBytes(d.Token), d.Utf8Bytes!.Value.ToArray());
        }
    }

    [Fact]
    public async Task Sdk_stop_sequences_and_seeded_sampling()
    {
        var greedy = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 20 };
        string full = (await Chat.CompleteChatAsync(Conversation, greedy)).Value.Content[0].Text;
        string stop = full.Substring(5, 3);
        var stopped = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 20 };
        stopped.StopSequences.Add(stop);
        ChatCompletion c = await Chat.CompleteChatAsync(Conversation, stopped);
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], c.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, c.FinishReason);

        var seeded = new ChatCompletionOptions { Temperature = 1, MaxOutputTokenCount = 16, Seed = 42 };
        string a = (await Chat.CompleteChatAsync(Conversation, seeded)).Value.Content[0].Text;
        string b = (await Chat.CompleteChatAsync(Conversation, seeded)).Value.Content[0].Text;
        Assert.Equal(a, b);
    }

    [Fact]
    public async Task N_chat_choices_and_content_parts()
    {
        var request = new JsonObject
        {
            ["model"] = RunningServer.ModelName,
            ["messages"] = new JsonArray(new JsonObject
            {
                ["role"] = "user",
                ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = "Once upon a time" }),
            }),
            ["max_tokens"] = 8,
            ["n"] = 2,
            ["seed"] = 7,
        };
        var reply = await fixture.Server.Http.PostAsync("/v1/chat/completions", request);
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        Assert.Equal("chat.completion", reply.Body.GetProperty("object").GetString());
        var choices = reply.Body.GetProperty("choices");
        Assert.Equal(2, choices.GetArrayLength());
        Assert.Equal(1, choices[1].GetProperty("index").GetInt32());
        Assert.Equal("assistant", choices[1].GetProperty("message").GetProperty("role").GetString());

        request["n"] = 1;
        request["seed"] = 8; // choice 1 of the n = 2 call used seed 7 + 1
        var alone = await fixture.Server.Http.PostAsync("/v1/chat/completions", request);
        Assert.Equal(alone.Body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString(),
            choices[1].GetProperty("message").GetProperty("content").GetString());
    }
}
