namespace Tandem.Benchmark.Client;

/// <summary>How <see cref="OpenAiStreamingClient"/> talks to the server.</summary>
public sealed record ClientOptions
{
    /// <summary>Server root, e.g. <c>http://127.0.0.1:8000</c> (a trailing <c>/v1</c> is accepted and dropped).</summary>
    public required Uri BaseUrl { get; init; }
    public ApiEndpoint Endpoint { get; init; } = ApiEndpoint.Completions;
    public required string Model { get; init; }
    /// <summary>Whole-request limit, from send to end of stream; a request past it is recorded as timed out.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>Ask for <c>tandem_timeline</c> (body field <c>return_timeline</c> and header <c>X-Tandem-Timeline</c>).</summary>
    public bool RequestTimeline { get; init; } = true;
    /// <summary>Force answer lengths with vLLM's / llama.cpp's <c>ignore_eos</c>.</summary>
    public bool IgnoreEos { get; init; } = true;
    public double Temperature { get; init; }
    /// <summary>Sent as <c>Authorization: Bearer</c> when set.</summary>
    public string? ApiKey { get; init; }

    /// <summary>The base URL without a trailing <c>/v1</c> or slash.</summary>
    public static Uri Root(Uri baseUrl)
    {
        string s = baseUrl.ToString().TrimEnd('/');
        if (s.EndsWith("/v1", StringComparison.OrdinalIgnoreCase)) s = s[..^3];
        return new Uri(s + "/");
    }
}
