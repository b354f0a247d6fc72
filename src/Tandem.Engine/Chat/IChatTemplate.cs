namespace Tandem.Engine.Chat;

/// <summary>
/// Turns a conversation into prompt text: one of the built-in formats (<see cref="ChatTemplate"/>, llama.cpp's
/// without Jinja) or a Jinja template (<see cref="JinjaChatTemplate"/>: the model's own, a file, or Tandem's ChatML).
/// </summary>
public interface IChatTemplate
{
    /// <summary>What start-up and errors call it ("chatml", "the model's chat template (Jinja)", a file name).</summary>
    string Name { get; }

    /// <summary>How the model writes tool calls under this template, for parsing its replies into OpenAI <c>tool_calls</c>.</summary>
    ToolCallFormat ToolCallFormat { get; }

    /// <summary>
    /// The prompt text. Throws <see cref="ChatTemplateException"/> when the conversation does not fit the template
    /// (a role it refuses, tools a built-in format cannot show) or the template fails.
    /// </summary>
    string Render(ChatRenderRequest request);

    /// <summary>True when <paramref name="rendered"/> starts with the model's BOS token written out, so the tokenizer must not add another.</summary>
    bool StartsWithBos(string rendered);
}
