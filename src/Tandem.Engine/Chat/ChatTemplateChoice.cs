namespace Tandem.Engine.Chat;

/// <summary>
/// The chat template a server uses, and why. In order: <c>--chat-template-file</c>; <c>--chat-template</c> (a
/// built-in name, or Jinja text as llama-server takes it); the model's tokenizer.chat_template rendered as Jinja;
/// when that template cannot be parsed or fails a probe render, the built-in format llama.cpp detects from its text;
/// then ChatML. Each fallback carries a <see cref="Warning"/> for start-up to print.
/// </summary>
public sealed record ChatTemplateChoice(IChatTemplate Template, string? Warning)
{
    /// <summary>
    /// Throws <see cref="ChatTemplateException"/> for what the user chose and cannot work (an unknown name, a file
    /// that cannot be read or parsed, or a template that fails on a plain conversation): a typo must stop start-up.
    /// The model's own template never throws: it falls back, with a warning.
    /// </summary>
    public static ChatTemplateChoice Choose(string? chosen, string? chosenFile, string? modelTemplate, string bosToken, string eosToken)
    {
        if (!string.IsNullOrWhiteSpace(chosenFile))
        {
            string text;
            try
            {
                text = File.ReadAllText(chosenFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ChatTemplateException($"--chat-template-file {chosenFile} cannot be read: {e.Message}");
            }
            var fromFile = JinjaChatTemplate.Parse($"--chat-template-file {Path.GetFileName(chosenFile)}", text, bosToken, eosToken);
            return new ChatTemplateChoice(ProbeOrThrow(fromFile), null);
        }
        if (!string.IsNullOrWhiteSpace(chosen))
        {
            if (chosen == ChatMlTemplate.Name)
                return new ChatTemplateChoice(ChatMlTemplate.Create(bosToken, eosToken), null);
            if (ChatTemplate.TryFromName(chosen, out var named))
                return new ChatTemplateChoice(named, null);
            if (LooksLikeJinja(chosen))
                return new ChatTemplateChoice(ProbeOrThrow(JinjaChatTemplate.Parse("--chat-template (Jinja text)", chosen, bosToken, eosToken)), null);
            return new ChatTemplateChoice(ChatTemplate.Resolve(chosen, null), null); // throws: unknown name, listing the known ones
        }
        if (string.IsNullOrWhiteSpace(modelTemplate))
        {
            return new ChatTemplateChoice(ChatMlTemplate.Create(bosToken, eosToken),
                "the model has no chat template (tokenizer.chat_template); chat uses ChatML, as llama-server does — pass --chat-template NAME or --chat-template-file FILE for another");
        }

        string why;
        try
        {
            var own = JinjaChatTemplate.Parse("the model's chat template (Jinja)", modelTemplate, bosToken, eosToken);
            if (Probe(own) is not { } failure)
                return new ChatTemplateChoice(own, null);
            why = failure;
        }
        catch (ChatTemplateException e)
        {
            why = e.Message;
        }
        if (ChatTemplate.Detect(modelTemplate) is { } detected)
        {
            IChatTemplate builtIn = detected.Kind == ChatTemplateKind.ChatMl ? ChatMlTemplate.Create(bosToken, eosToken) : detected;
            return new ChatTemplateChoice(builtIn, $"the model's chat template cannot be used ({why}); chat uses the built-in '{detected.Name}' format its text matches");
        }
        return new ChatTemplateChoice(ChatMlTemplate.Create(bosToken, eosToken),
            $"the model's chat template cannot be used ({why}) and matches no built-in format; chat uses ChatML, as llama-server does — pass --chat-template NAME or --chat-template-file FILE for another");
    }

    private static bool LooksLikeJinja(string text) => text.Contains("{%", StringComparison.Ordinal) || text.Contains("{{", StringComparison.Ordinal);

    private static JinjaChatTemplate ProbeOrThrow(JinjaChatTemplate template) =>
        Probe(template) is { } failure ? throw new ChatTemplateException($"{template.Name} fails on a plain conversation: {failure}") : template;

    /// <summary>
    /// Renders plain conversations (with a system message, without, a single user turn) and returns null as soon as
    /// one renders; else why the last failed. Templates may refuse a system role (Gemma) or demand alternation, so
    /// one success is enough.
    /// </summary>
    private static string? Probe(JinjaChatTemplate template)
    {
        ChatMessage[][] conversations =
        [
            [ChatMessage.System("You are a helpful assistant."), ChatMessage.User("Hello"), ChatMessage.Assistant("Hi there"), ChatMessage.User("How are you?")],
            [ChatMessage.User("Hello"), ChatMessage.Assistant("Hi there"), ChatMessage.User("How are you?")],
            [ChatMessage.User("Hello")],
        ];
        string? failure = null;
        foreach (var conversation in conversations)
        {
            try
            {
                template.Render(new ChatRenderRequest(conversation));
                return null;
            }
            catch (ChatTemplateException e)
            {
                failure = e.Message;
            }
        }
        return failure;
    }
}
