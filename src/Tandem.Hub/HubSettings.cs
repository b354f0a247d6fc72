namespace Tandem.Hub;

/// <summary>
/// Where the Hub is and where its files are kept, read from the environment variables huggingface_hub reads, so
/// Python tools and Tandem share one cache: <c>HF_ENDPOINT</c>, <c>HF_HOME</c> / <c>HF_HUB_CACHE</c>, <c>HF_TOKEN</c>
/// (or the token file <c>huggingface-cli login</c> writes), <c>HF_HUB_OFFLINE</c>.
/// </summary>
public sealed record HubSettings
{
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>The Hub's base URL, without a trailing slash.</summary>
    public required string Endpoint { get; init; }

    /// <summary>The hub cache folder: it holds <c>models--ORG--REPO/{blobs,snapshots,refs}</c>.</summary>
    public required string CacheDirectory { get; init; }

    /// <summary>Bearer token for gated and private repositories (sent to the Hub only, never to the CDN it redirects to).</summary>
    public string? Token { get; init; }

    /// <summary>Use the cache only; never call the Hub.</summary>
    public bool Offline { get; init; }

    /// <summary>Attempts per file when the connection drops mid-download (each resumes where the last stopped).</summary>
    public int MaxAttempts { get; init; } = 5;

    public static HubSettings FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    /// <summary>The settings a process with these variables gets (tests pass their own lookup).</summary>
    public static HubSettings FromEnvironment(Func<string, string?> env)
    {
        string home = Value(env, "HF_HOME") ?? Path.Combine(
            Value(env, "XDG_CACHE_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "huggingface");
        string? token = Value(env, "HF_TOKEN") ?? Value(env, "HUGGING_FACE_HUB_TOKEN");
        string tokenFile = Value(env, "HF_TOKEN_PATH") ?? Path.Combine(home, "token");
        if (token is null && File.Exists(tokenFile))
            token = File.ReadAllText(tokenFile).Trim() is { Length: > 0 } t ? t : null;
        return new HubSettings
        {
            Endpoint = (Value(env, "HF_ENDPOINT") ?? DefaultEndpoint).TrimEnd('/'),
            CacheDirectory = Value(env, "HF_HUB_CACHE") ?? Path.Combine(home, "hub"),
            Token = token,
            Offline = Value(env, "HF_HUB_OFFLINE")?.ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE",
        };
    }

    private static string? Value(Func<string, string?> env, string name) => env(name) is { Length: > 0 } v ? v.Trim() : null;
}
