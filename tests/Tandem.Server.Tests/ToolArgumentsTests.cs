using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tandem.Engine.Tests;
using Tandem.Engine.Tests.Structured;

namespace Tandem.Server.Tests;

/// <summary>
/// Forced tool calls are constrained (issue 14): with a named tool_choice the real tiny model (tinyllama-v0, random
/// as far as tools go) writes calls whose arguments validate against the function's <c>parameters</c> (JsonSchema.Net),
/// every choice over several seeds, in each call format: Hermes (Tandem's ChatML), Llama 3.x JSON and Mistral (their
/// real templates). Without the constraint the model only continued the forced call opening, and wrote no valid call.
/// </summary>
public sealed class ToolArgumentsTests
{
    /// <summary>Bounded values (no free string), so every call completes within the token budget.</summary>
    private const string Parameters = """
        {"type":"object","properties":{"city":{"enum":["Paris","Oslo","Rome"]},"days":{"type":"integer"},"metric":{"type":"boolean"},
         "detail":{"enum":["low","high"]}},"required":["city","days","metric"],"additionalProperties":false}
        """;

    internal static string Template(string name) =>
        Path.Combine(TestPaths.RepoRoot, "tests", "Tandem.Engine.Tests", "Chat", "Jinja", "Fixtures", "templates", name);

    [Theory]
    [InlineData(null)]
    [InlineData("meta-llama-Llama-3.1-8B-Instruct.jinja")]
    [InlineData("mistralai-Mistral-Nemo-Instruct-2407.jinja")]
    public async Task Named_tool_choice_arguments_validate_against_the_parameters_schema(string? template)
    {
        await using var server = await RunningServer.StartAsync(mode: "colocated", chatTemplate: null,
            configure: o => { if (template is not null) o.ChatTemplateFile = Template(template); }, modelPath: TestRuntimes.LongContextModelPath);
        int calls = 0;
        foreach (int seed in new[] { 1, 2 })
        {
            var body = new JsonObject
            {
                ["model"] = RunningServer.ModelName,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "What is the weather like?" }),
                ["tools"] = new JsonArray(
                    new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "get_weather", ["parameters"] = JsonNode.Parse(Parameters) } },
                    new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "get_time" } }),
                ["tool_choice"] = new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "get_weather" } },
                ["temperature"] = 1.0,
                ["seed"] = seed,
                ["n"] = 4,
                ["max_tokens"] = 300,
            };
            var reply = await server.Http.PostAsync("/v1/chat/completions", body);
            Assert.True(reply.Status == HttpStatusCode.OK, reply.Body.ToString());
            foreach (var choice in reply.Body.GetProperty("choices").EnumerateArray())
            {
                Assert.True(choice.GetProperty("finish_reason").GetString() == "tool_calls", choice.ToString());
                var call = Assert.Single(choice.GetProperty("message").GetProperty("tool_calls").EnumerateArray());
                Assert.Equal("get_weather", call.GetProperty("function").GetProperty("name").GetString());
                StructuredOutputAssert.Valid(Parameters, call.GetProperty("function").GetProperty("arguments").GetString()!);
                calls++;
            }
        }
        Assert.Equal(8, calls);
    }
}
