using Tandem.Engine.Chat;
using Tandem.Engine.Tokenization;
using Tandem.Server.Protocol;

namespace Tandem.Server.Chat;

/// <summary>
/// Turns chat requests into prompt tokens with the template chosen at start-up (<see cref="ChatTemplateChoice"/>:
/// the user's file or name, else the model's own Jinja template, else a built-in format, else ChatML — llama-server's
/// fallback, so every model chats). <see cref="Warning"/> says why a fallback was taken; start-up prints it.
/// </summary>
public sealed class ChatPrompts
{
    private readonly Tokenizer _tokenizer;

    /// <summary>Throws <see cref="ChatTemplateException"/> when the user's choice cannot work: a typo must stop start-up.</summary>
    public ChatPrompts(Tokenizer tokenizer, string? chosenName, string? chosenFile, string? modelTemplate)
    {
        _tokenizer = tokenizer;
        var v = tokenizer.Vocabulary;
        string bos = v.BosId >= 0 && v.BosId < v.Count ? v.Tokens[v.BosId] : "";
        string eos = v.EosId >= 0 && v.EosId < v.Count ? v.Tokens[v.EosId] : "";
        var choice = ChatTemplateChoice.Choose(chosenName, chosenFile, modelTemplate, bos, eos);
        Template = choice.Template;
        Warning = choice.Warning;
    }

    /// <summary>The template in use.</summary>
    public IChatTemplate Template { get; }

    /// <summary>Why the template in use is a fallback rather than the model's own or the user's choice; null when it is not.</summary>
    public string? Warning { get; }

    /// <summary>What start-up prints: the template in use, and the fallback's reason when there is one.</summary>
    public string Describe() => Warning is null ? $"chat template: {Template.Name}" : $"chat template: {Template.Name} ({Warning})";

    /// <summary>The prompt text of <paramref name="request"/>; a conversation the template refuses is a 400 on <c>messages</c>.</summary>
    public string Render(ChatRenderRequest request)
    {
        try
        {
            return Template.Render(request);
        }
        catch (ChatTemplateException e)
        {
            throw ApiException.Invalid("messages", e.Message);
        }
    }

    /// <summary>
    /// The prompt tokens of <paramref name="text"/> (from <see cref="Render"/>), or null when they are more than
    /// <paramref name="maxTokens"/> (found without tokenizing all of a huge prompt). /tokenize may leave out BOS
    /// (<paramref name="addSpecial"/>); chat requests keep it.
    /// </summary>
    public int[]? Tokenize(string text, int maxTokens, bool addSpecial = true)
    {
        // Special tokens are parsed because the rendered text spells the format's markers; BOS is added as the
        // vocabulary asks unless the template wrote its own (one BOS, not llama-server's doubled pair).
        bool addBos = addSpecial && _tokenizer.Vocabulary.AddBos && !Template.StartsWithBos(text);
        return _tokenizer.EncodeAtMost(text, addBos, parseSpecial: true, maxTokens);
    }
}
