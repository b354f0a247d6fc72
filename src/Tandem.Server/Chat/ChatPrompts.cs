using Tandem.Engine.Chat;
using Tandem.Engine.Tokenization;
using Tandem.Server.Protocol;

namespace Tandem.Server.Chat;

/// <summary>
/// Turns chat messages into prompt tokens with the template chosen at start-up. A model without a usable template
/// still serves /v1/completions; only chat requests are refused, with the reason and the fix.
/// </summary>
public sealed class ChatPrompts
{
    private readonly ChatTemplate? _template;
    private readonly string? _unavailable;
    private readonly Tokenizer _tokenizer;

    /// <summary>Throws <see cref="ChatTemplateException"/> when <paramref name="chosenName"/> is given but unknown: a typo must stop start-up.</summary>
    public ChatPrompts(Tokenizer tokenizer, string? chosenName, string? modelTemplate)
    {
        _tokenizer = tokenizer;
        if (!string.IsNullOrWhiteSpace(chosenName))
        {
            _template = ChatTemplate.Resolve(chosenName, null);
            return;
        }
        try
        {
            _template = ChatTemplate.Resolve(null, modelTemplate);
        }
        catch (ChatTemplateException e)
        {
            _unavailable = e.Message;
        }
    }

    /// <summary>The template in use, or null when chat is unavailable.</summary>
    public ChatTemplate? Template => _template;

    /// <summary>Why chat is unavailable (null when it is available).</summary>
    public string? Unavailable => _unavailable;

    /// <summary>
    /// The prompt tokens of <paramref name="messages"/>, or null when they are more than <paramref name="maxTokens"/>
    /// (found without tokenizing all of a huge prompt). /tokenize may leave out the assistant's opening
    /// (<paramref name="addGenerationPrompt"/>) or BOS (<paramref name="addSpecial"/>); chat requests keep both.
    /// </summary>
    public int[]? Tokenize(IReadOnlyList<ChatMessage> messages, int maxTokens, bool addGenerationPrompt = true, bool addSpecial = true)
    {
        if (_template is null)
            throw ApiException.Invalid("messages", $"Chat completions are unavailable: {_unavailable}.");
        string text;
        try
        {
            text = _template.Render(messages, addGenerationPrompt);
        }
        catch (ChatTemplateException e)
        {
            throw ApiException.Invalid("messages", e.Message);
        }
        // Special tokens are parsed because the rendered text spells the format's markers; BOS is added as the
        // vocabulary asks unless the format writes its own (one BOS, not llama-server's doubled pair).
        bool addBos = addSpecial && _tokenizer.Vocabulary.AddBos && !_template.RendersBos;
        return _tokenizer.EncodeAtMost(text, addBos, parseSpecial: true, maxTokens);
    }
}
