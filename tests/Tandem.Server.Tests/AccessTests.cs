using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Tandem.Server.Hosting;

namespace Tandem.Server.Tests;

/// <summary>One server with every access check on: two API keys, a metrics key, one CORS origin, two Host names.</summary>
public sealed class GuardedServerFixture : IAsyncLifetime
{
    public const string KeyOne = "sk-tandem-one";
    public const string KeyTwo = "sk-tandem-two";
    public const string MetricsKey = "metrics-secret";
    public const string Origin = "https://app.example.com";

    public RunningServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await RunningServer.StartAsync(configureServer: o => o.Access = new TandemAccessOptions
    {
        ApiKeys = [KeyOne, KeyTwo],
        MetricsApiKey = MetricsKey,
        AllowedOrigins = [Origin],
        AllowedHosts = ["127.0.0.1", "localhost"],
    });

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>API keys, the metrics key, 415 for bodies that are not JSON, CORS and the Host check, on a real Kestrel.</summary>
public sealed class AccessTests(GuardedServerFixture fixture) : IClassFixture<GuardedServerFixture>
{
    private HttpClient Http => fixture.Server.Http;

    private static string CompletionBody => ApiCalls.Completion(References.OnceUponATime, 2).ToJsonString();

    private async Task<(HttpStatusCode Status, HttpResponseMessage Response, string Body)> SendAsync(HttpMethod method, string path,
        string? key = null, string? body = null, string contentType = "application/json", string? host = null, string? origin = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = contentType.Length == 0 ? null : MediaTypeHeaderValue.Parse(contentType);
        }
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (host is not null) request.Headers.Host = host;
        if (origin is not null) request.Headers.Add("Origin", origin);
        var response = await Http.SendAsync(request);
        return (response.StatusCode, response, await response.Content.ReadAsStringAsync());
    }

    private static void AssertOpenAiError(string body, string code)
    {
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
    }

    [Theory]
    [InlineData("POST", "/v1/completions")]
    [InlineData("POST", "/v1/chat/completions")]
    [InlineData("GET", "/v1/models")]
    [InlineData("GET", "/v1/no-such-route")]
    [InlineData("POST", "/tokenize")]
    [InlineData("POST", "/detokenize")]
    public async Task Api_routes_refuse_a_missing_or_wrong_key_with_401(string method, string path)
    {
        string? body = method == "POST" ? CompletionBody : null;
        foreach (string? key in new[] { null, "sk-wrong", KeyOneWithTypo })
        {
            var (status, response, text) = await SendAsync(new HttpMethod(method), path, key, body);
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            AssertOpenAiError(text, "invalid_api_key");
        }
    }

    private const string KeyOneWithTypo = GuardedServerFixture.KeyOne + "x";

    [Fact]
    public async Task Every_configured_key_is_accepted()
    {
        foreach (string key in new[] { GuardedServerFixture.KeyOne, GuardedServerFixture.KeyTwo })
        {
            var (status, _, text) = await SendAsync(HttpMethod.Post, "/v1/completions", key, CompletionBody);
            Assert.True(status == HttpStatusCode.OK, text);
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/v1/models", key)).Status);
        }
        // The SDK sends its key the same way.
        var sdk = new OpenAI.OpenAIClient(new System.ClientModel.ApiKeyCredential(GuardedServerFixture.KeyTwo),
            new OpenAI.OpenAIClientOptions { Endpoint = new Uri(fixture.Server.Address, "/v1") });
        var models = await sdk.GetOpenAIModelClient().GetModelsAsync();
        Assert.Single(models.Value);
    }

    [Fact]
    public async Task Health_stays_open_and_metrics_take_only_the_metrics_key()
    {
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/health")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/health/ready")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, "/metrics")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, "/metrics", GuardedServerFixture.KeyOne)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, "/plan")).Status);
        var (status, _, text) = await SendAsync(HttpMethod.Get, "/metrics", GuardedServerFixture.MetricsKey);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("vllm:num_requests_waiting", text);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData("")]
    public async Task A_post_that_is_not_json_gets_415_and_starts_nothing(string contentType)
    {
        var (status, _, text) = await SendAsync(HttpMethod.Post, "/v1/completions", GuardedServerFixture.KeyOne, CompletionBody, contentType);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, status);
        AssertOpenAiError(text, "unsupported_media_type");
        Assert.Equal(0, fixture.Server.Engine.Snapshot().RequestsWaiting + fixture.Server.Engine.Snapshot().RequestsRunning);
    }

    [Theory]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("Application/JSON")]
    [InlineData("application/vnd.api+json")]
    public async Task Json_content_types_are_accepted(string contentType)
    {
        var (status, _, text) = await SendAsync(HttpMethod.Post, "/v1/completions", GuardedServerFixture.KeyOne, CompletionBody, contentType);
        Assert.True(status == HttpStatusCode.OK, text);
    }

    [Fact]
    public async Task Cors_answers_the_allowed_origin_only()
    {
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions");
        preflight.Headers.Add("Origin", GuardedServerFixture.Origin);
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        preflight.Headers.Add("Access-Control-Request-Headers", "authorization,content-type");
        using var allowed = await Http.SendAsync(preflight);
        Assert.True(allowed.IsSuccessStatusCode, allowed.StatusCode.ToString());
        Assert.Equal(GuardedServerFixture.Origin, allowed.Headers.GetValues("Access-Control-Allow-Origin").Single());

        var (_, other, _) = await SendAsync(HttpMethod.Get, "/v1/models", GuardedServerFixture.KeyOne, origin: "https://evil.example");
        Assert.False(other.Headers.Contains("Access-Control-Allow-Origin"));
        var (_, same, _) = await SendAsync(HttpMethod.Get, "/v1/models", GuardedServerFixture.KeyOne, origin: GuardedServerFixture.Origin);
        Assert.Equal(GuardedServerFixture.Origin, same.Headers.GetValues("Access-Control-Allow-Origin").Single());
    }

    [Fact]
    public async Task A_host_header_not_allowed_gets_400_before_anything_else()
    {
        var (status, _, text) = await SendAsync(HttpMethod.Post, "/v1/completions", GuardedServerFixture.KeyOne, CompletionBody, host: "rebind.attacker.example");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        AssertOpenAiError(text, "host_not_allowed");
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Get, "/health", host: "rebind.attacker.example")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/health", host: $"localhost:{fixture.Server.Address.Port}")).Status);
    }
}

/// <summary>What a server without access options does: no key asked, no CORS headers, but still 415 for non-JSON posts.</summary>
public sealed class OpenAccessTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task Cors_is_off_and_no_key_is_needed()
    {
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/chat/completions");
        preflight.Headers.Add("Origin", "https://any.example");
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        using var response = await fixture.Server.Http.SendAsync(preflight);
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));

        using var models = await fixture.Server.Http.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        using var metrics = await fixture.Server.Http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
    }

    [Fact]
    public async Task A_text_plain_form_post_cannot_start_a_generation()
    {
        // What a web page can send to a local server without a CORS preflight.
        using var content = new StringContent(ApiCalls.Completion(References.OnceUponATime, 2).ToJsonString(), Encoding.UTF8, "text/plain");
        using var response = await fixture.Server.Http.PostAsync("/v1/completions", content);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    [Fact]
    public void Host_names_resolve_to_addresses_and_bad_ones_are_refused()
    {
        Assert.Equal([IPAddress.Parse("10.1.2.3")], KestrelListen.Resolve("10.1.2.3"));
        Assert.Contains(KestrelListen.Resolve(Dns.GetHostName()), a => a.AddressFamily is System.Net.Sockets.AddressFamily.InterNetwork or System.Net.Sockets.AddressFamily.InterNetworkV6);
        Assert.Throws<ArgumentException>(() => KestrelListen.Resolve("not a host"));
        Assert.Throws<ArgumentException>(() => KestrelListen.Resolve("no-such-host.invalid"));
    }

    [Fact]
    public async Task A_server_listens_on_a_host_name()
    {
        string name = Dns.GetHostName();
        await using var server = await RunningServer.StartAsync(configureServer: o => o.Host = name);
        using var response = await server.Http.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
