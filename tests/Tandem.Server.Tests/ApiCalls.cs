using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tandem.Server.Tests;

/// <summary>Raw HTTP calls for what the SDK does not cover (legacy completions, extensions, malformed requests).</summary>
public static class ApiCalls
{
    public sealed record Reply(HttpStatusCode Status, JsonElement Body);

    public static async Task<Reply> PostAsync(this HttpClient http, string path, string json, IDictionary<string, string>? headers = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        foreach (var (k, v) in headers ?? new Dictionary<string, string>())
            request.Headers.Add(k, v);
        using var response = await http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        return new Reply(response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    public static Task<Reply> PostAsync(this HttpClient http, string path, JsonObject body, IDictionary<string, string>? headers = null) =>
        http.PostAsync(path, body.ToJsonString(), headers);

    /// <summary>Posts a streaming request and returns every <c>data:</c> payload, <c>[DONE]</c> included.</summary>
    public static async Task<List<string>> StreamAsync(this HttpClient http, string path, JsonObject body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var events = new List<string>();
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
                events.Add(line["data: ".Length..]);
            else
                Assert.Equal("", line); // nothing but data lines and the blank lines between events
        }
        return events;
    }

    public static JsonObject Completion(string prompt, int maxTokens, double temperature = 0) => new()
    {
        ["model"] = RunningServer.ModelName,
        ["prompt"] = prompt,
        ["max_tokens"] = maxTokens,
        ["temperature"] = temperature,
    };

    /// <summary>Asserts an OpenAI error body: status, type, and the param / code when given.</summary>
    public static void AssertError(Reply reply, HttpStatusCode status, string? param = null, string? code = null, string type = "invalid_request_error")
    {
        Assert.Equal(status, reply.Status);
        var error = reply.Body.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.Equal(type, error.GetProperty("type").GetString());
        Assert.True(error.TryGetProperty("param", out var p));
        Assert.True(error.TryGetProperty("code", out var c));
        if (param is not null) Assert.Equal(param, p.GetString());
        if (code is not null) Assert.Equal(code, c.GetString());
    }
}
