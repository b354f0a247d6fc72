using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Tandem.Serving;

namespace Tandem.Server.Tests;

/// <summary>A client that goes away cancels its requests, and their KV blocks come back.</summary>
public sealed class CancellationTests
{
    /// <summary>Loop iterations the tests let run before the client goes away: enough for the first chunks, far from the end.</summary>
    private const int Steps = 32;

    /// <summary>The instance these 5-token prompts run on: disaggregated, the decode instance prefills them (the default local prefill threshold).</summary>
    private static string Entry(string mode) => mode == "disaggregated" ? "decode-0" : "colocated-0";

    [Theory]
    [InlineData("disaggregated")]
    [InlineData("colocated")]
    public async Task Disconnect_mid_stream_frees_the_kv(string mode)
    {
        var server = await RunningServer.StartAsync(mode);
        try
        {
            var request = ApiCalls.Completion(References.OnceUponATime, 400);
            request["ignore_eos"] = true;
            request["stream"] = true;
            request["n"] = 2;
            // The loop runs only the steps the test allows: far fewer than the 400 each choice needs, so the request is
            // surely mid-generation (KV in use) when the client cuts it, however the machine stalls the client.
            var runtime = (ServingRuntime)server.Engine;
            var steps = new SemaphoreSlim(0); // not disposed: the loop may still be in the hook when it is removed
            runtime.InjectLoopFault(Entry(mode), () => steps.Wait());
            steps.Release(Steps);
            try
            {
                using var cts = new CancellationTokenSource();
                using var message = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(request.ToJsonString(), Encoding.UTF8, "application/json") };
                using var response = await server.Http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cts.Token);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
                int chunks = 0;
                while (chunks < 5 && await reader.ReadLineAsync(cts.Token) is { } line)
                {
                    if (line.StartsWith("data: {", StringComparison.Ordinal)) chunks++;
                }
                Assert.Equal(5, chunks);
                Assert.True(server.Engine.Snapshot().Instances.Sum(i => i.KvBlocksUsed) > 0, "the request holds no KV mid-generation");
                cts.Cancel(); // closes the connection mid-stream
            }
            finally
            {
                runtime.InjectLoopFault(Entry(mode), null);
                steps.Release(int.MaxValue / 2);
            }
            await WaitForIdle(server);

            // The server goes on serving.
            var ok = await server.Http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 32));
            Assert.Equal(References.OnceUponATime32, ok.Body.GetProperty("choices")[0].GetProperty("text").GetString());
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Disconnect_while_waiting_for_a_whole_response_frees_the_kv()
    {
        var server = await RunningServer.StartAsync("colocated");
        try
        {
            var request = ApiCalls.Completion(References.OnceUponATime, 480);
            request["ignore_eos"] = true;
            var runtime = (ServingRuntime)server.Engine;
            var steps = new SemaphoreSlim(0); // not disposed: the loop may still be in the hook when it is removed
            runtime.InjectLoopFault("colocated-0", () => steps.Wait());
            steps.Release(Steps); // far fewer steps than the 480 tokens need: it cannot finish before the client walks away
            try
            {
                using var cts = new CancellationTokenSource();
                var call = server.Http.PostAsync("/v1/completions", new StringContent(request.ToJsonString(), Encoding.UTF8, "application/json"), cts.Token);
                // Wait until the request holds KV (it keeps it: the loop is held), then walk away.
                for (int i = 0; i < 3000 && server.Engine.Snapshot().Instances.Sum(x => x.KvBlocksUsed) == 0; i++)
                    await Task.Delay(10);
                Assert.True(server.Engine.Snapshot().Instances.Sum(x => x.KvBlocksUsed) > 0, "the request never held KV");
                cts.Cancel();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
            }
            finally
            {
                runtime.InjectLoopFault("colocated-0", null);
                steps.Release(int.MaxValue / 2);
            }
            await WaitForIdle(server);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    /// <summary>Polls the runtime until nothing runs, waits or holds KV (a liveness bound, not a timing assertion).</summary>
    private static async Task WaitForIdle(RunningServer server)
    {
        for (int i = 0; i < 3000; i++)
        {
            var s = server.Engine.Snapshot();
            if (s.Instances.All(x => x.KvBlocksUsed == 0) && s.RequestsRunning == 0 && s.RequestsWaiting == 0)
                return;
            await Task.Delay(10);
        }
        var last = server.Engine.Snapshot();
        Assert.Fail($"KV not freed: {string.Join(", ", last.Instances.Select(x => $"{x.Name} used {x.KvBlocksUsed}, running {x.Running}, waiting {x.Waiting}"))}");
    }
}
