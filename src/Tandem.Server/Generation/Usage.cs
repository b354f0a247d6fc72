using System.Text.Json;

namespace Tandem.Server.Generation;

/// <summary>
/// Token counts of a call: each prompt counts once however many choices continue it (as OpenAI and vLLM count), and so
/// do its <see cref="CachedTokens"/>, the prompt tokens the prefix cache supplied (OpenAI's
/// <c>prompt_tokens_details.cached_tokens</c>, always present as in OpenAI's responses).
/// </summary>
internal readonly record struct Usage(int PromptTokens, int CompletionTokens, int CachedTokens)
{
    public void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", PromptTokens);
        w.WriteNumber("completion_tokens", CompletionTokens);
        w.WriteNumber("total_tokens", PromptTokens + CompletionTokens);
        w.WriteStartObject("prompt_tokens_details");
        w.WriteNumber("cached_tokens", CachedTokens);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
