using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tandem.Engine.Chat;
using Tandem.Engine.Tests.Generation;
using Tandem.Engine.Tests.Oracle;

namespace Tandem.Server.Tests;

/// <summary>
/// The API's completion text, streamed or not, on both endpoints, is what llama.cpp's server returns: each generated
/// token's token_to_piece with no lstrip, concatenated, so "The cat sat" continues " down", space included. The
/// log-probability token strings add up to the same text.
/// </summary>
public sealed class ContinuationTextTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private const int MaxTokens = 24;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Completion_text_is_llama_cpps_streamed_text(bool stream)
    {
        using var oracle = new LlamaCppOracle(TestRuntimes.ModelPath);
        int spaceFirst = 0;
        foreach (string prompt in ContinuationPrompts.All)
        {
            var expected = oracle.GreedyCompletion(oracle.Tokenize(prompt, addBos: true), MaxTokens);
            var request = ApiCalls.Completion(prompt, MaxTokens);
            request["logprobs"] = 0;

            var (text, tokens, finish) = stream
                ? await StreamAsync(fixture.Server.Http, "/v1/completions", request)
                : await CompleteAsync(fixture.Server.Http, "/v1/completions", request);

            Assert.Equal(expected.Text, text);
            Assert.Equal(expected.Text, string.Concat(tokens));
            Assert.Equal(FinishReason(oracle, expected.Tokens), finish);
            if (expected.Text.StartsWith(' ')) spaceFirst++;
        }
        Assert.True(spaceFirst > 0, "no continuation began with a space-prefixed piece");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Chat_content_is_llama_cpps_streamed_text(bool stream)
    {
        using var oracle = new LlamaCppOracle(TestRuntimes.ModelPath);
        // chatml (the fixture's template) ends the prompt with a line break; vicuna's ends with "ASSISTANT:", after
        // which this model answers with a space-prefixed piece.
        await using var vicuna = await RunningServer.StartAsync(chatTemplate: "vicuna");
        int spaceFirst = 0;
        foreach (var (server, templateName) in new[] { (fixture.Server, "chatml"), (vicuna, "vicuna") })
        {
            var template = ChatTemplate.Resolve(templateName, null);
            foreach (string prompt in ContinuationPrompts.All)
            {
                // stories260K's vocabulary adds BOS and these templates write none; their markers are plain text to it.
                string rendered = template.Render([ChatMessage.User(prompt)]);
                var expected = oracle.GreedyCompletion(oracle.Tokenize(rendered, addBos: true, parseSpecial: true), MaxTokens);
                var request = new JsonObject
                {
                    ["model"] = RunningServer.ModelName,
                    ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt }),
                    ["max_completion_tokens"] = MaxTokens,
                    ["temperature"] = 0,
                    ["logprobs"] = true,
                };

                var (text, tokens, finish) = stream
                    ? await StreamAsync(server.Http, "/v1/chat/completions", request)
                    : await CompleteAsync(server.Http, "/v1/chat/completions", request);

                Assert.Equal(expected.Text, text);
                Assert.Equal(expected.Text, string.Concat(tokens));
                Assert.Equal(FinishReason(oracle, expected.Tokens), finish);
                if (expected.Text.StartsWith(' ')) spaceFirst++;
            }
        }
        Assert.True(spaceFirst > 0, "no chat answer began with a space-prefixed piece");
    }

    private static string FinishReason(LlamaCppOracle oracle, int[] tokens) =>
        tokens.Length > 0 && oracle.IsEndOfGeneration(tokens[^1]) ? "stop" : "length";

    /// <summary>A whole response's text, its log-probability token strings, and its finish reason.</summary>
    private static async Task<(string Text, List<string> Tokens, string? Finish)> CompleteAsync(HttpClient http, string path, JsonObject request)
    {
        var reply = await http.PostAsync(path, request);
        Assert.Equal(HttpStatusCode.OK, reply.Status);
        var choice = Assert.Single(reply.Body.GetProperty("choices").EnumerateArray());
        var tokens = new List<string>();
        AddTokens(choice, tokens);
        string text = choice.TryGetProperty("message", out var message)
            ? message.GetProperty("content").GetString()!
            : choice.GetProperty("text").GetString()!;
        if (!choice.TryGetProperty("message", out _)) AssertTextOffsets(choice, text, tokens);
        return (text, tokens, choice.GetProperty("finish_reason").GetString());
    }

    /// <summary>A streamed response's chunks added up: text, log-probability token strings, finish reason.</summary>
    private static async Task<(string Text, List<string> Tokens, string? Finish)> StreamAsync(HttpClient http, string path, JsonObject request)
    {
        var streamed = request.DeepClone().AsObject();
        streamed["stream"] = true;
        var events = await http.StreamAsync(path, streamed);
        Assert.Equal("[DONE]", events[^1]);
        var text = new StringBuilder();
        var tokens = new List<string>();
        string? finish = null;
        foreach (string e in events[..^1])
        {
            var choice = Assert.Single(JsonDocument.Parse(e).RootElement.GetProperty("choices").EnumerateArray());
            text.Append(choice.TryGetProperty("delta", out var delta)
                ? delta.TryGetProperty("content", out var content) ? content.GetString() : null
                : choice.GetProperty("text").GetString());
            AddTokens(choice, tokens);
            if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String)
                finish = choice.GetProperty("finish_reason").GetString();
        }
        return (text.ToString(), tokens, finish);
    }

    /// <summary>The token strings of a choice's log-probabilities, in either endpoint's shape.</summary>
    private static void AddTokens(JsonElement choice, List<string> tokens)
    {
        var logprobs = choice.GetProperty("logprobs");
        if (logprobs.ValueKind != JsonValueKind.Object) return;
        if (logprobs.TryGetProperty("content", out var content))
            tokens.AddRange(content.EnumerateArray().Select(t => t.GetProperty("token").GetString()!));
        else
            tokens.AddRange(logprobs.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!));
    }

    /// <summary>Legacy completions: each text_offset points at its token's string within the text.</summary>
    private static void AssertTextOffsets(JsonElement choice, string text, List<string> tokens)
    {
        var offsets = choice.GetProperty("logprobs").GetProperty("text_offset").EnumerateArray().Select(o => o.GetInt32()).ToList();
        Assert.Equal(tokens.Count, offsets.Count);
        for (int i = 0; i < tokens.Count; i++)
            Assert.Equal(tokens[i], text.Substring(offsets[i], tokens[i].Length));
    }
}
