using System.Net;
using System.Text.Json;
using Tandem.Serving;

namespace Tandem.Server.Tests;

/// <summary>
/// /health tells the truth about the instance loops: one that died, or that holds work and makes no progress,
/// turns it 503 naming the instance and why. The loops are really broken, through the runtime's fault hook.
/// </summary>
public sealed class HealthTests
{
    private static async Task<(HttpStatusCode Status, JsonElement Body)> HealthAsync(RunningServer server)
    {
        using var response = await server.Http.GetAsync("/health");
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> HealthWhenAsync(RunningServer server, HttpStatusCode wanted)
    {
        var health = await HealthAsync(server);
        for (int i = 0; i < 600 && health.Status != wanted; i++)
        {
            await Task.Delay(50);
            health = await HealthAsync(server);
        }
        Assert.True(health.Status == wanted, $"/health still {health.Status} after 30 s: {health.Body}");
        return health;
    }

    [Fact]
    public async Task A_loop_that_died_makes_health_503_naming_the_instance_and_why()
    {
        await using var server = await RunningServer.StartAsync("disaggregated");
        Assert.Equal(HttpStatusCode.OK, (await HealthAsync(server)).Status);
        ((ServingRuntime)server.Engine).InjectLoopFault("decode-0", () => throw new InvalidOperationException("injected fault"));

        var (_, body) = await HealthWhenAsync(server, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("unhealthy", body.GetProperty("status").GetString());
        string problem = Assert.Single(body.GetProperty("problems").EnumerateArray()).GetString()!;
        Assert.Contains("decode-0", problem);
        Assert.Contains("injected fault", problem);
        var decode = body.GetProperty("instances").EnumerateArray().Single(i => i.GetProperty("name").GetString() == "decode-0");
        Assert.Contains("injected fault", decode.GetProperty("failure").GetString());

        // The server itself stays up: a request that needs the dead loop is refused as unavailable (503, retry after a
        // restart), with an OpenAI error body naming the instance, not a 500 and not a hang.
        var reply = await server.Http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 4));
        ApiCalls.AssertError(reply, HttpStatusCode.ServiceUnavailable, code: "instance_failed", type: "unavailable_error");
        Assert.Contains("decode-0", reply.Body.GetProperty("error").GetProperty("message").GetString());
        using var metrics = await server.Http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
    }

    [Fact]
    public async Task A_loop_stuck_with_work_makes_health_503_until_it_moves_again()
    {
        await using var server = await RunningServer.StartAsync("colocated", configure: o => o.StallTimeout = TimeSpan.FromSeconds(0.5));
        var runtime = (ServingRuntime)server.Engine;
        using var gate = new ManualResetEventSlim(false);
        runtime.InjectLoopFault("colocated-0", () => gate.Wait());
        try
        {
            // Stuck but idle is no problem: nothing waits on it.
            Assert.Equal(HttpStatusCode.OK, (await HealthAsync(server)).Status);
            var request = server.Http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 4));
            var (_, body) = await HealthWhenAsync(server, HttpStatusCode.ServiceUnavailable);
            string problem = Assert.Single(body.GetProperty("problems").EnumerateArray()).GetString()!;
            Assert.Contains("colocated-0", problem);
            Assert.Contains("no progress", problem);

            runtime.InjectLoopFault("colocated-0", null);
            gate.Set();
            Assert.Equal(HttpStatusCode.OK, (await request).Status);
            await HealthWhenAsync(server, HttpStatusCode.OK);
        }
        finally
        {
            runtime.InjectLoopFault("colocated-0", null);
            gate.Set();
        }
    }
}
