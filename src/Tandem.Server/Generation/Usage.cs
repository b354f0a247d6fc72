using System.Text.Json;

namespace Tandem.Server.Generation;

/// <summary>Token counts of a call: each prompt counts once however many choices continue it (as OpenAI and vLLM count).</summary>
internal readonly record struct Usage(int PromptTokens, int CompletionTokens)
{
    public void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", PromptTokens);
        w.WriteNumber("completion_tokens", CompletionTokens);
        w.WriteNumber("total_tokens", PromptTokens + CompletionTokens);
        w.WriteEndObject();
    }
}
