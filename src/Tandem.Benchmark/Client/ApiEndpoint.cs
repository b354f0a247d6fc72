namespace Tandem.Benchmark.Client;

/// <summary>The OpenAI endpoint requests go to.</summary>
public enum ApiEndpoint
{
    /// <summary><c>/v1/completions</c>: the prompt is sent as is (text or token ids).</summary>
    Completions,
    /// <summary><c>/v1/chat/completions</c>: the prompt is one user message; the server adds its chat template.</summary>
    ChatCompletions,
}

public static class ApiEndpoints
{
    public static string Path(this ApiEndpoint e) => e == ApiEndpoint.ChatCompletions ? "/v1/chat/completions" : "/v1/completions";

    public static ApiEndpoint Parse(string text) => text.Trim().TrimEnd('/').ToLowerInvariant() switch
    {
        "completions" or "/v1/completions" or "v1/completions" => ApiEndpoint.Completions,
        "chat" or "chat/completions" or "/v1/chat/completions" or "v1/chat/completions" => ApiEndpoint.ChatCompletions,
        _ => throw new ArgumentException($"unknown endpoint '{text}' (use /v1/completions or /v1/chat/completions)"),
    };
}
