using System.Diagnostics;
using System.Text.Json;
using Tandem.Engine.Chat;

namespace Tandem.Engine.Tests.Chat.Jinja;

/// <summary>
/// Real chat templates of the major model families (Fixtures/templates, sources and licences in
/// Fixtures/manifest.json) rendered over the conversations of Fixtures/conversations.json must give, byte for byte,
/// what Hugging Face's own @huggingface/jinja gives (Fixtures/expected.json, written by Fixtures/render-reference.mjs),
/// and fail where it fails. Rendering goes through <see cref="JinjaChatTemplate"/>, the server's path.
/// </summary>
public sealed class HuggingFaceAgreementTests
{
    private static readonly string Fixtures = Path.Combine(TestPaths.RepoRoot, "tests", "Tandem.Engine.Tests", "Chat", "Jinja", "Fixtures");

    /// <summary>The clock render-reference.mjs fixes for templates that print today's date.</summary>
    private static readonly DateTimeOffset FixedNow = new(2025, 1, 15, 12, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// Where @huggingface/jinja's output is a JavaScript artefact, Tandem writes what the template means. DeepSeek's
    /// templates join a tool call's arguments into the prompt with '+': given an object (as vLLM and llama.cpp pass
    /// parsed arguments), JavaScript writes "[object Map]" and Python's Jinja raises; Tandem writes the JSON, as
    /// llama.cpp's Jinja engine does, which is what the model was trained to read.
    /// </summary>
    private static readonly HashSet<(string Template, string Conversation)> ArgumentsJoinedAsObject =
    [
        ("deepseek-ai-DeepSeek-V3.1.jinja", "tool-round-trip"),
        ("deepseek-ai-DeepSeek-V3.1.jinja", "tool-round-trip-empty-content"),
        ("deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", "tool-round-trip"),
        ("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "tool-round-trip"),
    ];

    /// <summary>The round-trip conversations' call arguments as JSON (what replaces JavaScript's "[object Map]").</summary>
    private const string RoundTripArguments = "{\"city\": \"Paris\", \"unit\": \"celsius\"}";

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures, "expected.json")));
        foreach (var template in expected.RootElement.EnumerateObject())
            foreach (var conversation in template.Value.EnumerateObject())
                data.Add(template.Name, conversation.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Renders_as_huggingface_jinja(string templateFile, string conversationName)
    {
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures, "manifest.json")));
        var entry = manifest.RootElement.EnumerateArray().Single(e => e.GetProperty("template").GetString() == templateFile);
        var template = JinjaChatTemplate.Parse(templateFile, File.ReadAllText(Path.Combine(Fixtures, "templates", templateFile)),
            entry.GetProperty("bos").GetString()!, entry.GetProperty("eos").GetString()!, new FixedClock(FixedNow));

        using var conversations = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures, "conversations.json")));
        var request = Request(conversations.RootElement.GetProperty(conversationName));

        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures, "expected.json")));
        var want = expected.RootElement.GetProperty(templateFile).GetProperty(conversationName);
        if (ArgumentsJoinedAsObject.Contains((templateFile, conversationName)))
        {
            string js = want.GetProperty("output").GetString()!;
            Assert.Contains("[object Map]", js);
            Assert.Equal(js.Replace("[object Map]", RoundTripArguments), template.Render(request));
        }
        else if (want.TryGetProperty("output", out var output))
        {
            Assert.Equal(output.GetString(), template.Render(request));
        }
        else
        {
            var e = Assert.Throws<ChatTemplateException>(() => template.Render(request));
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
        }
    }

    /// <summary>When node and the pinned @huggingface/jinja are installed (npm install in Fixtures/), the committed expectations must be what it renders today.</summary>
    [SkippableFact]
    public void Expected_outputs_are_what_huggingface_jinja_renders_now()
    {
        Skip.IfNot(Directory.Exists(Path.Combine(Fixtures, "node_modules", "@huggingface", "jinja")), "run 'npm install' in tests/Tandem.Engine.Tests/Chat/Jinja/Fixtures to check against @huggingface/jinja live");
        var start = new ProcessStartInfo("node", ["render-reference.mjs", "--check"])
        {
            WorkingDirectory = Fixtures,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new SkipException("node is not installed");
        }
        using (process)
        {
            string error = process.StandardError.ReadToEnd();
            Assert.True(process.WaitForExit(60_000), "node render-reference.mjs --check did not finish in a minute");
            Assert.True(process.ExitCode == 0, error);
        }
    }

    /// <summary>A conversation of conversations.json as the server would build it from a request.</summary>
    internal static ChatRenderRequest Request(JsonElement c)
    {
        var messages = new List<ChatMessage>();
        foreach (var m in c.GetProperty("messages").EnumerateArray())
        {
            bool nullContent = !m.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null;
            var calls = m.TryGetProperty("tool_calls", out var tc)
                ? tc.EnumerateArray().Select(x => new ChatToolCall(x.GetProperty("id").GetString()!,
                    x.GetProperty("function").GetProperty("name").GetString()!, x.GetProperty("function").GetProperty("arguments").GetString()!)).ToList()
                : [];
            messages.Add(new ChatMessage(m.GetProperty("role").GetString()!, nullContent ? "" : content.GetString()!)
            {
                ContentIsNull = nullContent,
                ToolCalls = calls,
                ToolCallId = m.TryGetProperty("tool_call_id", out var id) ? id.GetString() : null,
                Name = m.TryGetProperty("name", out var name) ? name.GetString() : null,
            });
        }
        return new ChatRenderRequest(messages)
        {
            AddGenerationPrompt = c.GetProperty("add_generation_prompt").GetBoolean(),
            Tools = c.TryGetProperty("tools", out var tools) ? tools.EnumerateArray().Select(t => t.Clone()).ToList() : [],
            TemplateVariables = c.TryGetProperty("chat_template_kwargs", out var kw)
                ? kw.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone())
                : new Dictionary<string, JsonElement>(),
        };
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
        public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;
    }
}
