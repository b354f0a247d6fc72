using System.Text;
using Tandem.Engine.Chat;
using Tandem.Engine.Chat.Tools;

namespace Tandem.Engine.Tests.Chat.Tools;

/// <summary>
/// Model replies in each family's tool-call format, fed whole and one character at a time (how a stream may split
/// them): the calls and the content around them must come out the same either way, and text that is not a call
/// must come back unchanged.
/// </summary>
public sealed class ToolCallStreamParserTests
{
    private static (string Content, List<ParsedToolCall> Calls) Feed(ToolCallFormat format, IEnumerable<string> pieces, string forced = "", string forcedEnd = "")
    {
        var parser = new ToolCallStreamParser(format, forced, forcedEnd);
        var content = new StringBuilder();
        var calls = new List<ParsedToolCall>();
        foreach (string piece in pieces)
        {
            var (c, k) = parser.Push(piece);
            content.Append(c);
            calls.AddRange(k);
        }
        var (rest, more) = parser.Finish();
        content.Append(rest);
        calls.AddRange(more);
        return (content.ToString(), calls);
    }

    private static void BothWays(ToolCallFormat format, string reply, string content, params (string Name, string Arguments)[] calls)
    {
        foreach (var pieces in new[] { new[] { reply }, reply.Select(c => c.ToString()).ToArray() })
        {
            var (gotContent, gotCalls) = Feed(format, pieces);
            Assert.Equal(content, gotContent);
            Assert.Equal(calls, gotCalls.Select(c => (c.Name, c.Arguments)).ToArray());
        }
    }

    [Fact]
    public void Hermes_blocks_become_calls_and_the_text_before_stays_content() => BothWays(ToolCallFormat.Hermes,
        "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>",
        "Let me check.\n", ("get_weather", "{\"city\": \"Paris\"}"), ("get_time", "{\"city\": \"Oslo\"}"));

    [Fact]
    public void Hermes_call_cut_off_before_its_closing_tag_still_parses() => BothWays(ToolCallFormat.Hermes,
        "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}", "", ("f", "{}"));

    [Fact]
    public void Hermes_text_that_only_looks_like_a_call_is_content() => BothWays(ToolCallFormat.Hermes,
        "Use <tool_call>not json</tool_call> and <tool_ca", "Use <tool_call>not json</tool_call> and <tool_ca");

    [Fact]
    public void Plain_text_streams_without_being_held_back()
    {
        var parser = new ToolCallStreamParser(ToolCallFormat.Hermes);
        Assert.Equal("Hello", parser.Push("Hello").Content);
        Assert.Equal(" there ", parser.Push(" there <").Content); // "<" may start "<tool_call>": held
        Assert.Equal("<b>", parser.Push("b>").Content);
    }

    [Fact]
    public void Llama3_json_reply_is_a_call() => BothWays(ToolCallFormat.Llama3Json,
        "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", "", ("get_weather", "{\"city\": \"Paris\"}"));

    [Fact]
    public void Llama3_python_tag_and_several_calls() => BothWays(ToolCallFormat.Llama3Json,
        "<|python_tag|>{\"name\": \"a\", \"parameters\": {\"x\": 1}}; {\"name\": \"b\", \"parameters\": {}}", "", ("a", "{\"x\": 1}"), ("b", "{}"));

    [Fact]
    public void Llama3_prose_is_content() => BothWays(ToolCallFormat.Llama3Json, "The weather is {sunny}.", "The weather is {sunny}.");

    [Fact]
    public void Mistral_array_of_calls() => BothWays(ToolCallFormat.Mistral,
        "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"abc123XYZ\"}]", "", ("get_weather", "{\"city\": \"Paris\"}"));

    [Fact]
    public void Mistral_calls_without_the_control_token_spelled_out() => BothWays(ToolCallFormat.Mistral,
        "[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]", "", ("get_weather", "{\"city\": \"Paris\"}"));

    [Fact]
    public void Mistral_name_args_form() => BothWays(ToolCallFormat.Mistral,
        "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}", "", ("get_weather", "{\"city\": \"Paris\"}"));

    [Fact]
    public void Mistral_reply_that_is_not_a_call_is_content() => BothWays(ToolCallFormat.Mistral, "[TOOL] is not it", "[TOOL] is not it");

    [Fact]
    public void Forced_prefix_is_read_as_the_start_of_the_reply()
    {
        var (content, calls) = Feed(ToolCallFormat.Hermes, ["{\"city\": \"Rome\"}}\n</tool_call>"], "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": ");
        Assert.Equal("", content);
        Assert.Equal(("get_weather", "{\"city\": \"Rome\"}"), (Assert.Single(calls).Name, calls[0].Arguments));
    }

    [Fact]
    public void Arguments_given_as_a_json_string_are_unwrapped() => BothWays(ToolCallFormat.Hermes,
        "<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}</tool_call>", "", ("f", "{\"a\": 1}"));

    [Fact]
    public void Llama3_call_with_a_semicolon_in_a_string_is_one_call() => BothWays(ToolCallFormat.Llama3Json,
        "{\"name\": \"run\", \"parameters\": {\"sql\": \"select 1; select 2\"}}", "", ("run", "{\"sql\": \"select 1; select 2\"}"));

    /// <summary>A forced, constrained call ends with its JSON: the format's closing text is read after it.</summary>
    [Theory]
    [InlineData(ToolCallFormat.Hermes, "<tool_call>\n", "\n</tool_call>")]
    [InlineData(ToolCallFormat.Mistral, "[TOOL_CALLS][", "]")]
    [InlineData(ToolCallFormat.Llama3Json, "", "")]
    public void Forced_call_is_closed_by_the_forced_end(ToolCallFormat format, string start, string end)
    {
        string key = format == ToolCallFormat.Llama3Json ? "parameters" : "arguments";
        string call = $"{{\"name\": \"get_weather\", \"{key}\": {{\"city\": \"Rome\"}}}}";
        var (content, calls) = Feed(format, call.Select(c => c.ToString()), start, end);
        Assert.Equal("", content);
        Assert.Equal(("get_weather", "{\"city\": \"Rome\"}"), (Assert.Single(calls).Name, calls[0].Arguments));
    }
}
