namespace Tandem.Engine.Chat;

/// <summary>
/// A chat format that turns a list of messages into the prompt text a model was trained on, exactly as llama.cpp
/// does without a Jinja engine (src/llama-chat.cpp: llm_chat_detect_template picks the format from the model's
/// template text, llm_chat_apply_template writes the prompt). The rendered text holds the format's special tokens
/// as text ("&lt;|im_start|&gt;", "[INST]", ...), so it must be tokenized with special-token parsing on.
/// </summary>
/// <remarks>
/// <para>BOS: llama-server tokenizes the rendered chat prompt with add_special = true and parse_special = true, so
/// the tokenizer adds BOS when the vocabulary asks for one (tokenizer.ggml.add_bos_token). Almost every built-in
/// format leaves BOS out of the text for that reason (the Llama 2 and Mistral formats skip the leading "&lt;s&gt;"
/// their Jinja templates write). A few write a BOS-like token at the very start (<see cref="RendersBos"/>):
/// tokenizing those with add_special = true gives two BOS tokens, which llama.cpp does as well (it only logs a
/// warning). A caller that wants llama-server's tokens exactly adds BOS as the vocabulary says regardless; one that
/// wants a single BOS adds it only when <see cref="RendersBos"/> is false. "&lt;s&gt;" written later in the text
/// (llama2-sys-bos, monarch) is a BOS token in the middle of the prompt on purpose.</para>
/// <para>Messages are checked before rendering (<see cref="Render"/>): llama.cpp silently drops or mislabels some
/// messages a format has no place for (a tool message in vicuna, a system message in yandex, a second system message
/// in gigachat); Tandem refuses those with a <see cref="ChatTemplateException"/> instead, and renders everything
/// else byte for byte as llama.cpp does.</para>
/// </remarks>
public sealed partial class ChatTemplate : IChatTemplate
{
    private ChatTemplate(ChatTemplateKind kind)
    {
        Kind = kind;
        Name = ChatTemplateNames.Of(kind);
    }

    /// <summary>The format.</summary>
    public ChatTemplateKind Kind { get; }

    /// <summary>llama.cpp's name for the format, as <c>--chat-template</c> takes it.</summary>
    public string Name { get; }

    /// <summary>
    /// True when the rendered text begins with a BOS-like token of its own (gigachat "&lt;s&gt;", seed_oss
    /// "&lt;seed:bos&gt;", smolvlm "&lt;|im_start|&gt;"), so adding the vocabulary's BOS in front would double it. See
    /// the remarks on <see cref="ChatTemplate"/>.
    /// </summary>
    public bool RendersBos => Kind is ChatTemplateKind.GigaChat or ChatTemplateKind.SeedOss or ChatTemplateKind.SmolVlm;

    /// <summary>
    /// False for the formats whose llama.cpp rendering ignores <c>addGenerationPrompt</c> (the mistral and llama2
    /// families, orion, minicpm, rwkv-world, hunyuan-moe, hunyuan-dense): their prompt already ends where the
    /// assistant's reply begins, or never marks it.
    /// </summary>
    public bool HonoursGenerationPrompt => Kind is not (ChatTemplateKind.MistralV7 or ChatTemplateKind.MistralV7Tekken
        or ChatTemplateKind.MistralV1 or ChatTemplateKind.MistralV3 or ChatTemplateKind.MistralV3Tekken
        or ChatTemplateKind.Llama2 or ChatTemplateKind.Llama2Sys or ChatTemplateKind.Llama2SysBos
        or ChatTemplateKind.Llama2SysStrip or ChatTemplateKind.Orion or ChatTemplateKind.MiniCpm
        or ChatTemplateKind.RwkvWorld or ChatTemplateKind.HunyuanMoe or ChatTemplateKind.HunyuanDense);

    /// <summary>The format of the given kind.</summary>
    public static ChatTemplate FromKind(ChatTemplateKind kind) => new(kind);

    /// <summary>Every built-in format's name, sorted.</summary>
    public static IReadOnlyList<string> KnownNames => ChatTemplateNames.All;

    /// <summary>Looks up a built-in format by llama.cpp's name ("chatml", "llama3", "mistral-v7", ...); exact match.</summary>
    public static bool TryFromName(string name, out ChatTemplate template)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (ChatTemplateNames.TryParse(name, out var kind))
        {
            template = new ChatTemplate(kind);
            return true;
        }
        template = null!;
        return false;
    }

    /// <summary>
    /// Recognises the format of a model's Jinja chat template (tokenizer.chat_template) the way llama.cpp does,
    /// by characteristic substrings (a bare built-in name is accepted too). Null when the text is null or empty or no
    /// built-in format matches.
    /// </summary>
    public static ChatTemplate? Detect(string? jinjaTemplate)
    {
        if (string.IsNullOrEmpty(jinjaTemplate))
            return null;
        return ChatTemplateDetector.Detect(jinjaTemplate) is { } kind ? new ChatTemplate(kind) : null;
    }

    /// <summary>
    /// The format to use for a model: the user's choice when there is one (a built-in name or a Jinja template text,
    /// as llama-server's <c>--chat-template</c> accepts), otherwise the one detected from the model's own template.
    /// Throws <see cref="ChatTemplateException"/> when the choice is unknown, when the model has no template and none
    /// was chosen, or when the model's template is not one llama.cpp recognises.
    /// </summary>
    /// <remarks>
    /// The strict lookup of a built-in format. A server chooses with <see cref="ChatTemplateChoice.Choose"/>, which
    /// renders the model's template as Jinja first and, as llama-server does, falls back to ChatML instead of failing.
    /// </remarks>
    public static ChatTemplate Resolve(string? chosen, string? modelTemplate)
    {
        if (!string.IsNullOrWhiteSpace(chosen))
        {
            return Detect(chosen) ?? throw new ChatTemplateException(
                $"unknown chat template '{Abbreviate(chosen)}'; known: {string.Join(", ", KnownNames)}");
        }
        if (string.IsNullOrWhiteSpace(modelTemplate))
        {
            throw new ChatTemplateException(
                $"the model has no chat template; pass --chat-template NAME (known: {string.Join(", ", KnownNames)})");
        }
        return Detect(modelTemplate) ?? throw new ChatTemplateException(
            "the model's chat template is not one of the formats Tandem recognises (it has no Jinja engine); " +
            $"pass --chat-template NAME (known: {string.Join(", ", KnownNames)})");
    }

    /// <summary>
    /// Renders <paramref name="messages"/> into prompt text, byte for byte as llama.cpp's llm_chat_apply_template,
    /// ending with the assistant's turn header when <paramref name="addGenerationPrompt"/> is set (and the format has
    /// one, see <see cref="HonoursGenerationPrompt"/>). Throws <see cref="ChatTemplateException"/> when the messages
    /// are empty, use a role other than system/user/assistant/tool, or use one where this format cannot express it.
    /// </summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true)
    {
        ArgumentNullException.ThrowIfNull(messages);
        Validate(messages);
        return RenderValidated(messages, addGenerationPrompt);
    }

    /// <summary>Renders a chat request. The built-in formats have no place for tools: a request that offers some is refused.</summary>
    public string Render(ChatRenderRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Tools.Count > 0)
        {
            throw new ChatTemplateException(
                $"the built-in chat format '{Name}' cannot show tools to the model; serve with the model's own Jinja template, " +
                "--chat-template chatml, or --chat-template-file FILE");
        }
        return Render(request.Messages, request.AddGenerationPrompt);
    }

    /// <inheritdoc/>
    public ToolCallFormat ToolCallFormat => Kind switch
    {
        ChatTemplateKind.Llama3 => ToolCallFormat.Llama3Json,
        ChatTemplateKind.MistralV1 or ChatTemplateKind.MistralV3 or ChatTemplateKind.MistralV3Tekken
            or ChatTemplateKind.MistralV7 or ChatTemplateKind.MistralV7Tekken => ToolCallFormat.Mistral,
        _ => ToolCallFormat.Hermes,
    };

    /// <inheritdoc/>
    public bool StartsWithBos(string rendered) => RendersBos;

    public override string ToString() => Name;

    private static string Abbreviate(string text) => text.Length <= 60 ? text : string.Concat(text.AsSpan(0, 57), "...");
}
