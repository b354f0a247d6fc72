using System.CommandLine;
using Tandem.Server;

namespace Tandem.Cli.Commands;

/// <summary>
/// <c>tandem serve</c>'s access options: API keys (flag, environment, file), the metrics key, CORS origins and allowed
/// Host names, read into <see cref="TandemAccessOptions"/>.
/// </summary>
internal sealed class AccessArguments
{
    /// <summary>The API key when --api-key is not given (vLLM reads VLLM_API_KEY the same way).</summary>
    public const string ApiKeyVariable = "TANDEM_API_KEY";

    public Option<string?> ApiKey { get; } = new("--api-key")
    {
        Description = $"Require 'Authorization: Bearer KEY' on /v1/* and /tokenize, /detokenize (401 otherwise); default: ${ApiKeyVariable}. /health stays open",
    };
    public Option<string?> ApiKeyFile { get; } = new("--api-key-file")
    {
        Description = "Read API keys from this file, one per line (blank lines and lines starting with # skipped); any of them is accepted, beside --api-key",
    };
    public Option<string?> MetricsApiKey { get; } = new("--metrics-api-key")
    {
        Description = "Require 'Authorization: Bearer KEY' on /metrics and /plan (open without it)",
    };
    public Option<string?> AllowedOrigins { get; } = new("--allowed-origins")
    {
        Description = "Browser origins allowed to call the API (CORS), comma-separated, e.g. https://app.example.com, or * for any; default: none (no CORS headers)",
    };
    public Option<string?> AllowedHosts { get; } = new("--allowed-hosts")
    {
        Description = "Host header names answered, comma-separated (e.g. localhost,127.0.0.1,*.example.com); others get 400, which stops DNS rebinding. Default: any",
    };

    public IEnumerable<Option> All => [ApiKey, ApiKeyFile, MetricsApiKey, AllowedOrigins, AllowedHosts];

    public TandemAccessOptions Read(ParseResult parse, Func<string, string?> environment)
    {
        var keys = new List<string>();
        if ((parse.GetValue(ApiKey) ?? environment(ApiKeyVariable)) is { } key)
            keys.Add(RequireKey(key, ApiKey.Name));
        if (parse.GetValue(ApiKeyFile) is { } file)
        {
            string[] lines;
            try { lines = File.ReadAllLines(file); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliUsageException($"--api-key-file: cannot read '{file}': {e.Message}");
            }
            int before = keys.Count;
            foreach (var line in lines.Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')))
                keys.Add(RequireKey(line, $"--api-key-file {file}"));
            if (keys.Count == before)
                throw new CliUsageException($"--api-key-file: '{file}' holds no key (one per line)");
        }
        return new TandemAccessOptions
        {
            ApiKeys = keys,
            MetricsApiKey = parse.GetValue(MetricsApiKey) is { } m ? RequireKey(m, MetricsApiKey.Name) : null,
            AllowedOrigins = List(parse.GetValue(AllowedOrigins)),
            AllowedHosts = List(parse.GetValue(AllowedHosts)),
        };
    }

    /// <summary>A key a client can send in a header: not empty, no whitespace or control characters.</summary>
    private static string RequireKey(string key, string source)
    {
        string k = key.Trim();
        if (k.Length == 0 || k.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
            throw new CliUsageException($"{source}: an API key must be non-empty, without spaces or control characters");
        return k;
    }

    private static IReadOnlyList<string> List(string? text) =>
        text == null ? [] : text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
}
