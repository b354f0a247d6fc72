using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Tandem.Engine.Tests;

namespace Tandem.Server.Tests;

/// <summary>
/// An instance whose KV pool holds fewer tokens than the context: a request without max_tokens gets what the pool
/// can hold beside its prompt (not the context, which the runtime would refuse), a prompt the pool cannot hold with
/// one more token is a 400 naming it, and <c>tandem serve</c> says at start-up how far the pool falls short.
/// </summary>
public sealed class KvCapacityTests
{
    /// <summary>8 blocks of 16: 128 tokens of KV against stories260K's 512-token context.</summary>
    private const int Blocks = 8;
    private const int KvTokens = Blocks * 16;

    [Theory]
    [InlineData("disaggregated")]
    [InlineData("colocated")]
    public async Task Default_max_tokens_is_what_the_smallest_pool_holds_beside_the_prompt(string mode)
    {
        await using var server = await RunningServer.StartAsync(mode, kvBlocksPerInstance: Blocks);
        Assert.Equal(KvTokens, server.Engine.KvCapacityTokens);
        var chat = new JsonObject
        {
            ["model"] = RunningServer.ModelName,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = References.OnceUponATime }),
            ["temperature"] = 0,
            ["ignore_eos"] = true, // run the whole budget
        };
        var reply = await server.Http.PostAsync("/v1/chat/completions", chat);
        Assert.True(reply.Status == HttpStatusCode.OK, reply.Body.ToString());
        var usage = reply.Body.GetProperty("usage");
        Assert.Equal(KvTokens, usage.GetProperty("total_tokens").GetInt32());
        Assert.Equal("length", reply.Body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task A_prompt_that_fills_the_pool_is_refused_naming_it_and_an_explicit_max_tokens_past_the_pool_too()
    {
        await using var server = await RunningServer.StartAsync("colocated", kvBlocksPerInstance: Blocks);
        int[] prompt = Enumerable.Repeat(403, KvTokens).ToArray(); // "▁Once" × 128: fits the context, fills the pool
        var noRoom = ApiCalls.Completion(References.OnceUponATime, 4);
        noRoom["prompt"] = new JsonArray(prompt.Select(id => (JsonNode)id).ToArray());
        noRoom.Remove("max_tokens");
        ApiCalls.AssertError(await server.Http.PostAsync("/v1/completions", noRoom), HttpStatusCode.BadRequest, "prompt", "kv_capacity_exceeded");

        var pastPool = ApiCalls.Completion(References.OnceUponATime, KvTokens); // 5 + 128 tokens: within the context, past the pool
        ApiCalls.AssertError(await server.Http.PostAsync("/v1/completions", pastPool), HttpStatusCode.BadRequest, code: "kv_capacity_exceeded");

        var fits = ApiCalls.Completion(References.OnceUponATime, KvTokens - References.OnceUponATimePromptTokens);
        Assert.Equal(HttpStatusCode.OK, (await server.Http.PostAsync("/v1/completions", fits)).Status);
    }

    /// <summary>
    /// The real <c>tandem serve</c> process with 100 KiB of f16 KV (10 blocks of 10 KiB, 160 tokens of stories260K) prints each
    /// instance's KV tokens against the context and warns on standard error, before it listens.
    /// </summary>
    [Fact]
    public void Serve_reports_kv_tokens_against_the_context_and_warns_when_a_full_context_request_cannot_fit()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "tandem.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { dll, "serve", "--model", TestRuntimes.ModelPath, "--port", "0", "--kv-memory", "100KiB", "--cores-per-instance", "1" })
            psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginErrorReadLine();
        var stdout = new List<string>();
        try
        {
            while (process.StandardOutput.ReadLine() is { } line)
            {
                stdout.Add(line);
                if (line.StartsWith("listening on", StringComparison.Ordinal)) break;
            }
        }
        finally
        {
            process.Kill();
            process.WaitForExit();
        }

        string output = string.Join("\n", stdout);
        Assert.Contains("listening on", output);
        Assert.Contains("prefill-0", output);
        // Disaggregated by default, with the default local prefill threshold said on the mode line.
        Assert.Contains($"local prefill: prompts with at most {Tandem.Serving.ServingOptions.DefaultLocalPrefillThreshold} uncached tokens on a decode instance", output);
        Assert.Contains("KV 10 blocks (160 tokens, 0.31× the 512-token context)", output);
        string warnings;
        lock (stderr) warnings = stderr.ToString();
        Assert.Contains("warning: the KV cache of prefill-0, decode-0 holds 160 tokens, fewer than the 512-token context", warnings);
        Assert.Contains("--kv-memory 1MiB", warnings);
    }
}
