using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tandem.Server.Tests;

/// <summary>
/// Mixed requests (greedy, and seeded sampling) for comparing deployments by what users see: prompts of different lengths, completion
/// lengths from 1 to 120 tokens, some with stop strings, some with structured output (a JSON Schema), all streamed; the
/// result of each is its streamed text and finish reason.
/// </summary>
public static class ClusterWorkload
{
    private static readonly string[] Prompts =
    [
        "Once upon a time",
        "The little dog",
        "Lily and Tom went to the park. They saw a big tree and",
        "One day, a girl named Sue found a shiny red ball in the garden. She wanted to show it to her mom, so she",
        "Tim",
        "The sun was hot and the children were",
        "Once upon a time, there was a cat who liked to sleep all day. One morning the cat woke up and",
        "Ben had a toy car.",
    ];

    public const string StorySchema =
        """{"type":"object","properties":{"title":{"type":"string"},"pages":{"type":"integer"},"happy":{"type":"boolean"}},"required":["title","pages"]}""";

    public static JsonObject Request(int i, int? maxTokens = null)
    {
        var body = ApiCalls.Completion(Prompts[i % Prompts.Length], maxTokens ?? 1 + i * 37 % 120);
        body["stream"] = true;
        if (i % 5 == 3) body["stop"] = new JsonArray("park", "!");
        if (i % 4 == 1)
        {
            // Seeded sampling: the random stream must carry over from the prefill worker to the decode worker, and
            // into a recomputation, exactly as the sampler continues in one process.
            body["temperature"] = 0.9;
            body["seed"] = 1000 + i;
        }
        if (i % 6 == 5 && i % 5 != 3) // not with stop strings: a stop string may cut the JSON where it pleases
        {
            // Structured output: the constraint's state must follow the tokens to every worker, a recomputation included.
            body["response_format"] = new JsonObject
            {
                ["type"] = "json_schema",
                ["json_schema"] = new JsonObject { ["name"] = "story", ["schema"] = JsonNode.Parse(StorySchema) },
            };
        }
        return body;
    }

    /// <summary>
    /// Prompt lengths in tokens for <see cref="SizedRequest"/>: one token, each side of the 16-token KV block boundaries
    /// (a transfer's last block partly filled, exactly full, or one token into a new block), and long prompts of many
    /// blocks, up to 380 of the test model's 512-token context.
    /// </summary>
    public static readonly int[] PromptLengths = [1, 15, 16, 17, 31, 32, 33, 47, 48, 49, 100, 127, 128, 129, 200, 255, 256, 257, 300, 380];

    /// <summary>
    /// Request <paramref name="i"/> with a token-id prompt of <c>PromptLengths[i % n]</c> tokens (fixed pseudo-random ids,
    /// so the same i is the same request everywhere), up to 64 output tokens, greedy or seeded sampling and stop strings
    /// as in <see cref="Request"/>.
    /// </summary>
    public static JsonObject SizedRequest(int i)
    {
        var body = Request(i, 1 + i * 37 % 64);
        body["prompt"] = RandomTokenIds(PromptLengths[i % PromptLengths.Length], 7000 + i);
        return body;
    }

    /// <summary>A greedy streamed request of <paramref name="tokens"/> prompt token ids from <see cref="RandomTokenIds"/>, 8 tokens out.</summary>
    public static JsonObject TokenIdRequest(int tokens, int seed)
    {
        var body = ApiCalls.Completion("", 8);
        body["prompt"] = RandomTokenIds(tokens, seed);
        body["stream"] = true;
        return body;
    }

    /// <summary><paramref name="count"/> fixed pseudo-random token ids (the same seed, the same ids everywhere).</summary>
    public static JsonArray RandomTokenIds(int count, int seed)
    {
        var random = new Random(seed);
        var ids = new JsonArray();
        for (int t = 0; t < count; t++) ids.Add(random.Next(3, 500));
        return ids;
    }

    /// <summary>Streams request <paramref name="i"/> and returns its text and finish reason.</summary>
    public static async Task<(string Text, string? Finish)> RunAsync(HttpClient http, JsonObject body) =>
        Result(body, await http.StreamAsync("/v1/completions", body));

    /// <summary>A completion stream's text and finish reason from its data events (checked: no error, ends with [DONE], valid JSON when asked).</summary>
    public static (string Text, string? Finish) Result(JsonObject body, List<string> events)
    {
        Assert.Equal("[DONE]", events[^1]);
        var text = new StringBuilder();
        string? finish = null;
        foreach (var e in events[..^1])
        {
            var root = JsonDocument.Parse(e).RootElement;
            if (root.TryGetProperty("error", out var error)) Assert.Fail($"the stream ended with an error: {error}");
            var choice = root.GetProperty("choices")[0];
            text.Append(choice.GetProperty("text").GetString());
            if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String) finish = choice.GetProperty("finish_reason").GetString();
        }
        if (body["response_format"] != null && finish == "stop")
            Tandem.Engine.Tests.Structured.StructuredOutputAssert.Valid(StorySchema, text.ToString());
        return (text.ToString(), finish);
    }

    public static Task<(string Text, string? Finish)[]> RunAllAsync(HttpClient http, int count, Func<int, JsonObject>? request = null) =>
        Task.WhenAll(Enumerable.Range(0, count).Select(i => RunAsync(http, (request ?? (k => Request(k)))(i))));
}
