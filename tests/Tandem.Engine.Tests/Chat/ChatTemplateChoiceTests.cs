using Tandem.Engine.Chat;

namespace Tandem.Engine.Tests.Chat;

/// <summary>Which template a server uses: the user's file or name, else the model's own Jinja, else a detected built-in, else ChatML — each fallback with a warning.</summary>
public sealed class ChatTemplateChoiceTests
{
    private static readonly string Qwen25 = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "tests", "Tandem.Engine.Tests", "Chat", "Jinja", "Fixtures", "templates", "Qwen-Qwen2.5-7B-Instruct.jinja"));

    private static readonly ChatMessage[][] PlainChats =
    [
        [ChatMessage.User("Hi")],
        [ChatMessage.System("Be brief."), ChatMessage.User("Hi"), ChatMessage.Assistant("Hello!"), ChatMessage.User("Bye\nnow")],
        [ChatMessage.User("a"), ChatMessage.Assistant("b"), ChatMessage.User("c"), ChatMessage.Tool("{\"x\": 1}")],
    ];

    [Fact]
    public void A_model_without_a_template_chats_in_chatml_exactly_as_the_built_in_format()
    {
        var choice = ChatTemplateChoice.Choose(null, null, null, "<s>", "</s>");
        Assert.Equal("chatml", choice.Template.Name);
        Assert.Contains("no chat template", choice.Warning);
        var builtIn = ChatTemplate.FromKind(ChatTemplateKind.ChatMl);
        foreach (var chat in PlainChats)
        {
            foreach (bool generation in new[] { true, false })
                Assert.Equal(builtIn.Render(chat, generation), choice.Template.Render(new ChatRenderRequest(chat) { AddGenerationPrompt = generation }));
        }
    }

    [Fact]
    public void The_chatml_fallback_shows_tools_in_the_hermes_format()
    {
        var template = ChatTemplateChoice.Choose(null, null, null, "", "").Template;
        using var tool = System.Text.Json.JsonDocument.Parse("{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\"}}}");
        string text = template.Render(new ChatRenderRequest([ChatMessage.User("Weather?")]) { Tools = [tool.RootElement] });
        Assert.Contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\"}}}\n</tools>", text);
        Assert.EndsWith("<|im_start|>user\nWeather?<|im_end|>\n<|im_start|>assistant\n", text);
        Assert.Equal(ToolCallFormat.Hermes, template.ToolCallFormat);
    }

    [Fact]
    public void The_models_own_jinja_template_is_used_when_it_renders()
    {
        var choice = ChatTemplateChoice.Choose(null, null, Qwen25, "", "<|im_end|>");
        Assert.Null(choice.Warning);
        var template = Assert.IsType<JinjaChatTemplate>(choice.Template);
        Assert.StartsWith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.", template.Render(new ChatRenderRequest([ChatMessage.User("Hi")])));
    }

    [Fact]
    public void A_template_that_cannot_parse_falls_back_to_the_built_in_format_its_text_matches()
    {
        var choice = ChatTemplateChoice.Choose(null, null, "{% for m in messages %}<|start_header_id|>{{ m.role <|end_header_id|>", "", "");
        Assert.Equal("llama3", choice.Template.Name);
        Assert.Contains("cannot be used", choice.Warning);
        Assert.Contains("built-in 'llama3'", choice.Warning);
    }

    [Fact]
    public void A_template_that_always_fails_and_matches_nothing_falls_back_to_chatml()
    {
        var choice = ChatTemplateChoice.Choose(null, null, "{{ raise_exception('never') }}", "", "");
        Assert.Equal("chatml", choice.Template.Name);
        Assert.Contains("never", choice.Warning);
    }

    [Fact]
    public void The_users_choice_wins_and_a_bad_one_stops_start_up()
    {
        Assert.Equal("llama3", ChatTemplateChoice.Choose("llama3", null, Qwen25, "", "").Template.Name);
        Assert.IsType<JinjaChatTemplate>(ChatTemplateChoice.Choose("{{ messages[0].content }}", null, null, "", "").Template);
        Assert.Contains("unknown chat template 'nope'", Assert.Throws<ChatTemplateException>(() => ChatTemplateChoice.Choose("nope", null, null, "", "")).Message);

        string dir = TestPaths.NewTempDir();
        string file = Path.Combine(dir, "t.jinja");
        File.WriteAllText(file, "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}");
        var fromFile = ChatTemplateChoice.Choose("llama3", file, Qwen25, "", "");
        Assert.Null(fromFile.Warning);
        Assert.Equal("[user] Hi\n", fromFile.Template.Render(new ChatRenderRequest([ChatMessage.User("Hi")])));

        Assert.Contains("cannot be read", Assert.Throws<ChatTemplateException>(() => ChatTemplateChoice.Choose(null, Path.Combine(dir, "missing.jinja"), null, "", "")).Message);
        File.WriteAllText(file, "{% if %}");
        Assert.Contains("cannot be parsed", Assert.Throws<ChatTemplateException>(() => ChatTemplateChoice.Choose(null, file, null, "", "")).Message);
        File.WriteAllText(file, "{{ raise_exception('no') }}");
        Assert.Contains("fails on a plain conversation", Assert.Throws<ChatTemplateException>(() => ChatTemplateChoice.Choose(null, file, null, "", "")).Message);
    }

    [Fact]
    public void Chat_template_kwargs_reach_the_template()
    {
        var template = JinjaChatTemplate.Parse("t", "{{ 'think' if enable_thinking is not defined or enable_thinking else 'no-think' }}", "", "");
        using var no = System.Text.Json.JsonDocument.Parse("false");
        Assert.Equal("think", template.Render(new ChatRenderRequest([ChatMessage.User("x")])));
        Assert.Equal("no-think", template.Render(new ChatRenderRequest([ChatMessage.User("x")]) { TemplateVariables = new Dictionary<string, System.Text.Json.JsonElement> { ["enable_thinking"] = no.RootElement } }));
    }
}
