using Tandem.Engine.Chat;

namespace Tandem.Engine.Tests.Chat;

/// <summary>
/// Every built-in format renders a range of conversations exactly as llama.cpp does (llama_chat_apply_template in
/// LLamaSharp's native library), with and without the generation prompt.
/// </summary>
public class ChatTemplateLlamaCppAgreementTests
{
    public static TheoryData<string> Names => new(ChatTemplate.KnownNames);

    private static readonly ChatMessage[][] s_conversations =
    [
        // llama.cpp's test conversation (tests/test-chat-template.cpp)
        [
            ChatMessage.System("You are a helpful assistant"), ChatMessage.User("Hello"), ChatMessage.Assistant("Hi there"),
            ChatMessage.User("Who are you"), ChatMessage.Assistant("   I am an assistant   "), ChatMessage.User("Another question"),
        ],
        [ChatMessage.User("Hello")],
        [ChatMessage.User("Hello"), ChatMessage.Assistant("Hi"), ChatMessage.User("Again")],
        [ChatMessage.System("be brief"), ChatMessage.User("Hi")],
        [ChatMessage.System("s1"), ChatMessage.System("s2"), ChatMessage.User("u")],
        // trim sees only C whitespace: the no-break and ideographic spaces must survive it
        [
            ChatMessage.System(" \t sys \r\n"), ChatMessage.User("\u00A0 héllo 🦙 \v\f"), ChatMessage.Assistant("\u3000 réponse \n\n"),
            ChatMessage.User("<s>[INST] literal tags </s>"),
        ],
        [ChatMessage.User(""), ChatMessage.Assistant(""), ChatMessage.User("")],
        // ends with the assistant's (partial) reply
        [ChatMessage.User("Hello"), ChatMessage.Assistant("Hi, I")],
        // a system message later in the chat
        [ChatMessage.User("Hello"), ChatMessage.Assistant("Hi"), ChatMessage.System("now be terse"), ChatMessage.User("Why?")],
        // a tool result
        [
            ChatMessage.System("tools on"), ChatMessage.User("weather?"), ChatMessage.Assistant("calling"),
            ChatMessage.Tool("{\"t\": 21}"), ChatMessage.User("thanks"),
        ],
    ];

    [Theory]
    [MemberData(nameof(Names))]
    public void RendersAsLlamaCpp(string name)
    {
        Assert.True(ChatTemplate.TryFromName(name, out var template));
        int compared = 0;
        foreach (var conversation in s_conversations)
        {
            string rendered;
            try
            {
                rendered = template.Render(conversation, addGenerationPrompt: true);
            }
            catch (ChatTemplateException)
            {
                continue; // a conversation this format refuses; the refusals have their own tests
            }
            foreach (bool addAssistant in new[] { true, false })
            {
                string ours = template.Render(conversation, addAssistant);
                string? theirs = LlamaCppChatTemplates.Apply(NativeSelector(name), conversation, addAssistant);
                Assert.NotNull(theirs);
                Assert.True(theirs == ours,
                    $"{name}, add_ass={addAssistant}, roles {string.Join(",", conversation.Select(m => m.Role))}\n" +
                    $"llama.cpp: {Show(theirs)}\nTandem:    {Show(ours)}");
                compared++;
            }
            _ = rendered;
        }
        Assert.True(compared >= 8, $"{name}: only {compared} renderings compared");
    }

    [Fact]
    public void EveryNameIsOneLlamaCppKnows()
    {
        var builtin = LlamaCppChatTemplates.BuiltinNames();
        // dots1 is the one format llama.cpp only detects from template text and does not name
        Assert.Equal(["dots1"], ChatTemplate.KnownNames.Except(builtin));
    }

    /// <summary>What selects the format in llama.cpp: its name, or for the unnamed dots1 a text it detects.</summary>
    private static string NativeSelector(string name) => name == "dots1" ? "{{ '<|endofuserprompt|>' }}" : name;

    private static string Show(string? s) => s is null ? "(null)" : s.Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t");
}
