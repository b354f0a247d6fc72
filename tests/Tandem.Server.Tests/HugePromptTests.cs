using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Tandem.Server.Tests;

/// <summary>Memory measurements run alone, after the parallel tests, so other tests' allocations do not count.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryMeasurementCollection
{
    public const string Name = "serial: memory measurements";
}

/// <summary>
/// A prompt far past the context is refused before work proportional to it: the server allocates about what reading
/// the body and decoding its string take, not what tokenizing it would, and gives the memory back.
/// </summary>
[Collection(MemoryMeasurementCollection.Name)]
public sealed class HugePromptTests
{
    private const int PromptBytes = 7_800_000;
    private const int Requests = 4;

    [Fact]
    public async Task Four_huge_prompts_are_refused_without_tokenizing_them_and_the_memory_comes_back()
    {
        await using var server = await RunningServer.StartAsync("colocated");
        byte[] completion = Body("/v1/completions");
        byte[] chat = Body("/v1/chat/completions");
        Task Burst() => Task.WhenAll(Enumerable.Range(0, Requests).Select(i => i % 2 == 0
            ? AssertRefused(server.Http, "/v1/completions", completion)
            : AssertRefused(server.Http, "/v1/chat/completions", chat)));
        // Warm-up: the first bursts load code, start threads and fill pools that stay whatever the fix (JsonDocument
        // rents its index of a body over 4 MB, body-sized, from the shared array pool, which keeps a few per thread).
        await Burst();
        await Burst();
        var ok = await server.Http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 4));
        Assert.Equal(HttpStatusCode.OK, ok.Status);

        long residentBefore = SettledWorkingSet();
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        await Burst();
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        long residentAfter = SettledWorkingSet();

        // A refusal reads the body (1 byte per body byte) and, for chat, decodes and renders the message (UTF-16
        // copies, 6 more); a completion's prompt is refused from its length in the body, before it is decoded.
        // Tokenizing the 7.8 MB cost about 54 bytes per body byte; the bound leaves room for Kestrel and the client.
        double perBodyByte = (double)allocated / (Requests * (long)PromptBytes);
        Assert.True(perBodyByte < 12, $"{allocated / 1e6:F0} MB allocated for {Requests} refusals: {perBodyByte:F1} bytes per body byte");
        Assert.True(residentAfter - residentBefore < 50L << 20,
            $"resident set grew from {residentBefore / 1e6:F0} MB to {residentAfter / 1e6:F0} MB after {Requests} refusals and a full GC");
    }

    /// <summary>A request whose prompt (or message) is 7.8 MB of plain story text.</summary>
    private static byte[] Body(string path)
    {
        var text = new StringBuilder(PromptBytes + 64);
        while (text.Length < PromptBytes) text.Append("Once upon a time there was a little girl. ");
        string prompt = text.ToString(0, PromptBytes);
        string json = path.Contains("chat", StringComparison.Ordinal)
            ? JsonSerializer.Serialize(new { model = RunningServer.ModelName, messages = new[] { new { role = "user", content = prompt } } })
            : JsonSerializer.Serialize(new { model = RunningServer.ModelName, prompt, max_tokens = 4 });
        return Encoding.UTF8.GetBytes(json);
    }

    private static async Task AssertRefused(HttpClient http, string path, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await http.PostAsync(path, content);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{path}: {(int)response.StatusCode} {text}");
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
    }

    /// <summary>The process's resident set after a full, compacting GC that returns the memory it frees to the OS.</summary>
    private static long SettledWorkingSet()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }
}
