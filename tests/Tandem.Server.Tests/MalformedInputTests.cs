using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Tandem.Server.Tests;

/// <summary>
/// Bodies that are wrong at the byte level (invalid UTF-8, unpaired surrogate escapes, JSON cut short, garbage) or
/// arrive too slowly are refused with a 4xx and an OpenAI error body, never a 500, and the server keeps serving.
/// </summary>
public sealed class MalformedInputTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private HttpClient Http => fixture.Server.Http;

    /// <summary>The issue's cases: each surrogate escape in each string field the parsers read, named in the 400.</summary>
    [Theory]
    [InlineData("/v1/completions", "prompt", @"\ud800")]
    [InlineData("/v1/completions", "model", @"\udfff")]
    [InlineData("/v1/completions", "stop", @"\ud800\u0041")]
    [InlineData("/v1/completions", "stop[1]", @"\udfff")]
    [InlineData("/v1/completions", "prompt[0]", @"a\ud800")]
    [InlineData("/v1/chat/completions", "messages[0].content", @"\ud800")]
    [InlineData("/v1/chat/completions", "messages[0].role", @"\udfff")]
    [InlineData("/v1/chat/completions", "stop", @"\ud800\u0041")]
    [InlineData("/v1/chat/completions", "model", "0xFF")]
    public async Task Unpaired_surrogate_or_bad_utf8_in_a_field_is_400_naming_it(string path, string param, string bad)
    {
        string body = BodyWithRawText(path, param, "@@RAW@@");
        // "0xFF" stands for that one byte; the escapes go in as the ASCII characters they are.
        byte[] raw = bad == "0xFF" ? [0xFF] : Encoding.ASCII.GetBytes(bad);
        byte[] bytes = Encoding.UTF8.GetBytes(body);
        int at = bytes.AsSpan().IndexOf("@@RAW@@"u8);
        var reply = await PostBytesAsync(Http, path, [.. bytes[..at], .. raw, .. bytes[(at + 7)..]]);
        ApiCalls.AssertError(reply, HttpStatusCode.BadRequest, param);
        Assert.Contains("not valid Unicode text", reply.Body.GetProperty("error").GetProperty("message").GetString());
    }

    /// <summary>Escapes, surrogate pairs and non-ASCII text are text: the check must not refuse them.</summary>
    [Fact]
    public async Task Valid_escapes_pairs_and_non_ascii_text_are_accepted()
    {
        var reply = await PostBytesAsync(Http, "/v1/completions", Encoding.UTF8.GetBytes(
            """{"model":"stories260K","prompt":"Once upon a time \ud83d\ude00 caf\u00e9 日本\n","max_tokens":2,"stop":["\uD83D\uDE00"],"user":"\u0041"}"""));
        Assert.Equal(HttpStatusCode.OK, reply.Status);
    }

    /// <summary>
    /// 1,200 seeded bad bodies over both endpoints: every one a 4xx with an OpenAI error body (bad text: a 400 naming
    /// the field), none a 5xx or a 2xx; then a normal request still gets llama.cpp's greedy text.
    /// </summary>
    [Fact]
    public async Task Seeded_fuzz_of_malformed_bodies_is_all_4xx_and_the_server_keeps_serving()
    {
        var bodies = new MalformedBodies(seed: 20250807);
        var failures = new List<string>();
        int badText = 0, serverErrors = 0;
        for (int i = 0; i < 1200; i++)
        {
            var body = bodies.Next();
            if (body.BadText) badText++;
            using var content = new ByteArrayContent(body.Body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await Http.PostAsync(body.Path, content);
            string text = await response.Content.ReadAsStringAsync();
            if ((int)response.StatusCode >= 500) serverErrors++;
            string? problem = Problem(response.StatusCode, text, body);
            if (problem is not null)
                failures.Add($"#{i} {body}: {problem}");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of 1200 bodies were not refused properly ({serverErrors} got a 5xx):\n{string.Join("\n", failures.Take(20))}");
        Assert.True(badText > 200, $"only {badText} bodies with bad text"); // the generator covers the issue's case well

        var ok = await Http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 32));
        Assert.Equal(HttpStatusCode.OK, ok.Status);
        Assert.Equal(References.OnceUponATime32, ok.Body.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    /// <summary>Why a reply is not a proper refusal of <paramref name="body"/>, or null when it is.</summary>
    private static string? Problem(HttpStatusCode status, string text, MalformedBody body)
    {
        if ((int)status is < 400 or > 499) return $"status {(int)status}: {text}";
        JsonElement error;
        try
        {
            using var doc = JsonDocument.Parse(text);
            error = doc.RootElement.GetProperty("error").Clone();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return $"status {(int)status} without an OpenAI error body: {text}";
        }
        if (error.TryGetProperty("message", out var m) is false || string.IsNullOrWhiteSpace(m.GetString())
            || error.TryGetProperty("type", out var t) is false || t.GetString() != "invalid_request_error"
            || !error.TryGetProperty("param", out var param) || !error.TryGetProperty("code", out _))
            return $"malformed error body: {text}";
        if (body.BadText && (status != HttpStatusCode.BadRequest || param.GetString() != body.TextParam))
            return $"bad text answered {(int)status} param {param} instead of 400 param {body.TextParam ?? "null"}: {text}";
        return null;
    }

    /// <summary>A valid request with <paramref name="marker"/> as the text of the field <paramref name="param"/>.</summary>
    private static string BodyWithRawText(string path, string param, string marker)
    {
        bool chat = path.Contains("chat", StringComparison.Ordinal);
        var o = new JsonObject { ["model"] = RunningServer.ModelName, ["max_tokens"] = 4, ["stop"] = new JsonArray("x", "y") };
        if (chat) o["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi" });
        else o["prompt"] = param == "prompt[0]" ? new JsonArray("Once", "upon") : References.OnceUponATime;
        switch (param)
        {
            case "prompt[0]": ((JsonArray)o["prompt"]!)[0] = marker; break;
            case "stop[1]": ((JsonArray)o["stop"]!)[1] = marker; break;
            case "messages[0].content": ((JsonObject)((JsonArray)o["messages"]!)[0]!)["content"] = marker; break;
            case "messages[0].role": ((JsonObject)((JsonArray)o["messages"]!)[0]!)["role"] = marker; break;
            default: o[param] = marker; break;
        }
        return o.ToJsonString();
    }

    private static async Task<ApiCalls.Reply> PostBytesAsync(HttpClient http, string path, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await http.PostAsync(path, content);
        string text = await response.Content.ReadAsStringAsync();
        return new ApiCalls.Reply(response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }
}

/// <summary>A body sent slower than the server's minimum data rate is a 408 in the API's error shape, not a 500.</summary>
public sealed class SlowBodyTests
{
    [Fact]
    public async Task Body_slower_than_the_minimum_rate_is_408()
    {
        // Kestrel's grace period must exceed its 1 s heartbeat; a short one keeps the test to a few seconds.
        await using var server = await RunningServer.StartAsync("colocated",
            configureServer: o => o.MinRequestBodyDataRate = new MinDataRate(bytesPerSecond: 1000, gracePeriod: TimeSpan.FromSeconds(1.5)));
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Address.Host, server.Address.Port);
        var stream = tcp.GetStream();
        string head = $"POST /v1/completions HTTP/1.1\r\nHost: {server.Address.Authority}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head + "{\"model\":\"stories260K\",\"prompt\":\""));
        // ...and nothing more: the server gives up on the body and must answer, not wait for the rest.

        var (status, json) = await ReadResponseAsync(new StreamReader(stream, Encoding.UTF8)).WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal(408, status);
        var error = JsonDocument.Parse(json).RootElement.GetProperty("error");
        Assert.Equal("request_timeout", error.GetProperty("code").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());

        var ok = await server.Http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 4));
        Assert.Equal(HttpStatusCode.OK, ok.Status);
    }

    /// <summary>One HTTP/1.1 response: the status and the body, read by Content-Length or chunk by chunk.</summary>
    private static async Task<(int Status, string Body)> ReadResponseAsync(StreamReader reader)
    {
        string statusLine = await reader.ReadLineAsync() ?? throw new IOException("connection closed before a response");
        int status = int.Parse(statusLine.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        int? length = null;
        bool chunked = false;
        while (await reader.ReadLineAsync() is { Length: > 0 } header)
        {
            if (header.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)) length = int.Parse(header[15..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            if (header.StartsWith("Transfer-Encoding:", StringComparison.OrdinalIgnoreCase) && header.Contains("chunked", StringComparison.OrdinalIgnoreCase)) chunked = true;
        }
        var body = new StringBuilder();
        if (chunked)
        {
            while (Convert.ToInt32((await reader.ReadLineAsync())!.Split(';')[0], 16) is var size and > 0)
            {
                body.Append(await ReadExactlyAsync(reader, size));
                await reader.ReadLineAsync(); // the CRLF after the chunk
            }
        }
        else if (length is int n)
        {
            body.Append(await ReadExactlyAsync(reader, n));
        }
        return (status, body.ToString());
    }

    /// <summary>Reads <paramref name="count"/> characters (the bodies here are ASCII JSON, so characters are bytes).</summary>
    private static async Task<string> ReadExactlyAsync(StreamReader reader, int count)
    {
        var buffer = new char[count];
        int read = 0;
        while (read < count)
        {
            int n = await reader.ReadAsync(buffer.AsMemory(read));
            if (n == 0) throw new IOException("connection closed inside a response body");
            read += n;
        }
        return new string(buffer);
    }
}
