using Tandem.Engine.Chat;
using Tandem.Engine.Gguf;

namespace Tandem.Engine.Tests.Chat;

/// <summary>What a client is told when a chat cannot become a prompt, and where BOS comes from.</summary>
public class ChatTemplateErrorTests
{
    private static ChatTemplate Named(string name)
    {
        Assert.True(ChatTemplate.TryFromName(name, out var t));
        return t;
    }

    private static string Refusal(string name, params ChatMessage[] messages) =>
        Assert.Throws<ChatTemplateException>(() => Named(name).Render(messages)).Message;

    [Fact]
    public void AModelWithoutATemplateNeedsAChoice()
    {
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Resolve(null, null));
        Assert.StartsWith("the model has no chat template; pass --chat-template NAME (known: bailing, chatglm3, ", e.Message);
        Assert.Contains("chatml", e.Message);
        Assert.EndsWith(")", e.Message);
    }

    [Fact]
    public void TheSharedModelsCarryNoChatTemplate()
    {
        // None of the shared GGUFs has tokenizer.chat_template, so serving them needs --chat-template.
        string[] files =
        [
            TestPaths.Model("stories260K.gguf"), TestPaths.Model("tinyllama-v0-q4_0.gguf"),
            TestPaths.Model("llama2-tiny-random-f16.gguf"), TestPaths.Vocab("ggml-vocab-llama-spm.gguf"),
            TestPaths.Vocab("ggml-vocab-gpt-2.gguf"), TestPaths.Vocab("ggml-vocab-deepseek-llm.gguf"),
        ];
        foreach (string file in files)
        {
            using var gguf = GgufFile.Open(file);
            string? embedded = gguf.GetString("tokenizer.chat_template");
            Assert.Null(embedded);
            Assert.Throws<ChatTemplateException>(() => ChatTemplate.Resolve(null, embedded));
            Assert.Equal("chatml", ChatTemplate.Resolve("chatml", embedded).Name);
        }
    }

    [Fact]
    public void TheChoiceWinsOverTheModelsTemplate()
    {
        const string llama3 = "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>' }}";
        Assert.Equal("llama3", ChatTemplate.Resolve(null, llama3).Name);
        Assert.Equal("gemma", ChatTemplate.Resolve("gemma", llama3).Name);
        Assert.Equal("phi3", ChatTemplate.Resolve("{{ '<|assistant|>' + '<|end|>' }}", llama3).Name); // a chosen Jinja text
    }

    [Fact]
    public void AnUnknownNameListsTheKnownOnes()
    {
        Assert.False(ChatTemplate.TryFromName("ChatML", out _)); // names are case-sensitive, as in llama.cpp
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Resolve("llama-3", null));
        Assert.StartsWith("unknown chat template 'llama-3'; known: bailing, chatglm3, ", e.Message);
    }

    [Fact]
    public void AnUnrecognisedModelTemplateAsksForAChoice()
    {
        var e = Assert.Throws<ChatTemplateException>(() =>
            ChatTemplate.Resolve(null, "{% for message in messages %}{{ message['content'] }}{% endfor %}"));
        Assert.StartsWith("the model's chat template is not one of the formats Tandem recognises", e.Message);
        Assert.Contains("pass --chat-template NAME (known: ", e.Message);
    }

    [Fact]
    public void MessagesMustExistAndUseKnownRoles()
    {
        Assert.Equal("the chat has no messages", Refusal("chatml"));
        Assert.Equal("message 1 has role 'developer'; the roles are system, user, assistant and tool",
            Refusal("chatml", ChatMessage.User("a"), new ChatMessage("developer", "b")));
        Assert.Equal("message 0 has role 'User'; the roles are system, user, assistant and tool",
            Refusal("chatml", new ChatMessage("User", "a")));
        Assert.Equal("message 0 (user) has no content", Refusal("chatml", new ChatMessage("user", null!)));
    }

    [Theory]
    [InlineData("vicuna")]
    [InlineData("llama2")]
    [InlineData("mistral-v7")]
    [InlineData("deepseek3")]
    [InlineData("command-r")]
    public void AToolMessageIsRefusedWhereTheFormatHasNoToolRole(string name)
    {
        Assert.Equal($"message 2: the chat template '{name}' has no tool role",
            Refusal(name, ChatMessage.User("q"), ChatMessage.Assistant("calling"), ChatMessage.Tool("42")));
    }

    [Fact]
    public void AToolMessageRendersWhereTheFormatNamesRoles()
    {
        Assert.Equal("<|im_start|>user\nq<|im_end|>\n<|im_start|>tool\n42<|im_end|>\n<|im_start|>assistant\n",
            Named("chatml").Render([ChatMessage.User("q"), ChatMessage.Tool("42")]));
    }

    [Fact]
    public void SystemMessagesWhereTheFormatCannotPlaceThem()
    {
        Assert.Equal("message 0: the chat template 'yandex' has no system role; leave out system messages",
            Refusal("yandex", ChatMessage.System("s"), ChatMessage.User("u")));
        Assert.Equal("message 2: the chat template 'gigachat' accepts a system message only as the first message",
            Refusal("gigachat", ChatMessage.User("u"), ChatMessage.Assistant("a"), ChatMessage.System("s"), ChatMessage.User("v")));
        Assert.Equal("message 2: the chat template 'gemma' puts a system message into the next user message, and none follows",
            Refusal("gemma", ChatMessage.User("u"), ChatMessage.Assistant("a"), ChatMessage.System("s")));
        Assert.Equal("message 1: the chat template 'orion' puts a system message into the next user message, and none follows",
            Refusal("orion", ChatMessage.User("u"), ChatMessage.System("s"), ChatMessage.Assistant("a")));

        // where a later user turn takes it, gemma folds a late system message in, as llama.cpp does
        Assert.Equal(
            "<start_of_turn>user\nu<end_of_turn>\n<start_of_turn>model\na<end_of_turn>\n<start_of_turn>user\ns\n\nv<end_of_turn>\n<start_of_turn>model\n",
            Named("gemma").Render([ChatMessage.User("u"), ChatMessage.Assistant("a"), ChatMessage.System("s"), ChatMessage.User("v")]));
    }

    [Fact]
    public void RendersBosSaysWhetherTheTextStartsWithItsOwnBos()
    {
        var chat = new[] { ChatMessage.User("Hi") };
        Assert.True(Named("gigachat").RendersBos);
        Assert.StartsWith("<s>", Named("gigachat").Render(chat));
        Assert.True(Named("seed_oss").RendersBos);
        Assert.StartsWith("<seed:bos>", Named("seed_oss").Render(chat));

        // the Llama 2 family and monarch leave the leading <s> to the tokenizer
        foreach (string name in new[] { "llama2", "llama2-sys-bos", "monarch", "mistral-v7", "chatml", "llama3" })
        {
            Assert.False(Named(name).RendersBos);
            Assert.False(Named(name).Render(chat).StartsWith("<s>", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void GenerationPromptIsAddedOnlyWhereTheFormatHasOne()
    {
        var chat = new[] { ChatMessage.User("Hi") };
        foreach (string name in ChatTemplate.KnownNames)
        {
            var t = Named(name);
            bool differs = t.Render(chat, true) != t.Render(chat, false);
            Assert.True(differs == t.HonoursGenerationPrompt, name);
        }
    }
}
