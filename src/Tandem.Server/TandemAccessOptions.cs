namespace Tandem.Server;

/// <summary>
/// Who may use the server, and from where: API keys, the Host names it answers to, the web origins allowed to call
/// it from a browser. Empty lists leave that check off (the defaults: a server on loopback for one user).
/// </summary>
public sealed class TandemAccessOptions
{
    /// <summary>
    /// Keys accepted in <c>Authorization: Bearer KEY</c> on every /v1 route and on /tokenize, /detokenize; empty: no
    /// key needed. Several keys let a deployment rotate them or give each client its own.
    /// </summary>
    public IReadOnlyList<string> ApiKeys { get; set; } = [];

    /// <summary>The key /metrics and /plan ask for (Prometheus' bearer token); null: they stay open, as /health always does.</summary>
    public string? MetricsApiKey { get; set; }

    /// <summary>
    /// Origins a browser page may call the API from (CORS), e.g. <c>https://app.example.com</c>, or <c>*</c> for any;
    /// empty: no CORS headers, so browsers keep other sites' pages from reading answers.
    /// </summary>
    public IReadOnlyList<string> AllowedOrigins { get; set; } = [];

    /// <summary>
    /// Host names answered (ASP.NET Core's host filtering: <c>localhost</c>, <c>example.com</c>, <c>*.example.com</c>,
    /// an IP address; the request's port is not compared); a request with any other Host header gets 400 — a
    /// DNS-rebinding page that reaches a local server sends its own site's name. Empty: every Host is answered.
    /// </summary>
    public IReadOnlyList<string> AllowedHosts { get; set; } = [];
}
