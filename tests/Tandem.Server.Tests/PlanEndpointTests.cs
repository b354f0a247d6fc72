using System.Text.Json.Nodes;
using Tandem.Planning.Profiles;
using Tandem.Planning.Replanning;
using Tandem.Planning.Search;
using Tandem.Planning.Simulation;
using Tandem.Serving;

namespace Tandem.Server.Tests;

/// <summary>GET /plan and the re-planning metrics on a real server: what runs, what is recommended, and the traffic the server feeds the replanner.</summary>
public sealed class PlanEndpointTests
{
    [Fact]
    public async Task Without_a_plan_it_says_replanning_is_off()
    {
        await using var server = await RunningServer.StartAsync("colocated");
        var reply = await server.Http.GetAsync("/plan");
        Assert.True(reply.IsSuccessStatusCode);
        var body = JsonNode.Parse(await reply.Content.ReadAsStringAsync())!;
        Assert.False(body["replanning"]!.GetValue<bool>());
        Assert.Contains("--plan", body["reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task With_a_plan_it_shows_the_placement_and_every_finished_request_reaches_the_window()
    {
        var chosen = new PlannedPlacement { Mode = ServingMode.Colocated, Instances = new InstanceGroup(new ParallelConfig(1), 1, 3), Goodput = 3 };
        var plan = new PlanFile
        {
            Model = "stories260K.gguf", Profile = "profile.json", DeviceKind = "cpu", Workload = "fixed:64:16", SloTtftSeconds = 1, SloTpotSeconds = 0.1,
            Attainment = 0.9, TargetRate = 2, Nodes = 1, DevicesPerNode = 2, IntraNodeBandwidth = 600e9, InterNodeBandwidth = 3.125e9,
            PrefillTokenTarget = 512, ChunkBudget = 512, RequestsPerProbe = 50, Seed = 0, PlanningSeconds = 1, GoodputSearches = 1, Chosen = chosen, RunnersUp = [],
        };
        var profile = new LatencyProfile
        {
            Model = "stories260K.gguf", KvBytesPerToken = 1024,
            Configs = [new ConfigLatency { Tp = 1, Prefill = new StepCoefficients(0.001, 1e-5, 0), Decode = [new DecodePiece(null, new StepCoefficients(0.001, 0, 1e-4))] }],
        };
        await using var replanner = new Replanner(plan, profile, new ReplanOptions { WindowSeconds = 600 });
        await using var server = await RunningServer.StartAsync("colocated", configure: api => api.Replanner = replanner);

        for (int i = 0; i < 2; i++)
            Assert.True((await server.Http.PostAsync("/v1/completions", ApiCalls.Completion(References.OnceUponATime, 4))).Status == System.Net.HttpStatusCode.OK);
        // The server records a request when its completion task ends, just after the response: wait for both (bounded).
        for (int i = 0; i < 200 && (replanner.Window.Observe(replanner.Now)?.Requests ?? 0) < 2; i++) await Task.Delay(25);
        var seen = replanner.Window.Observe(replanner.Now);
        Assert.NotNull(seen);
        Assert.Equal(2, seen.Requests);
        Assert.Equal(4, seen.OutputMean);

        var body = JsonNode.Parse(await (await server.Http.GetAsync("/plan")).Content.ReadAsStringAsync())!;
        Assert.True(body["replanning"]!.GetValue<bool>());
        Assert.Equal("colocated", body["current"]!["mode"]!.GetValue<string>());
        Assert.Equal(1, body["current"]!["instances"]!["count"]!.GetValue<int>());
        Assert.Null(body["recommended"]);
        Assert.Equal(2, body["planned_for"]!["rate"]!.GetValue<double>());
        Assert.Equal(64, body["planned_for"]!["input_mean"]!.GetValue<double>());
        Assert.Equal(600, body["window_seconds"]!.GetValue<double>());

        string metrics = await server.Http.GetStringAsync("/metrics");
        Assert.Contains("tandem:plan_recommended_devices{model_name=\"stories260K\"} 1", metrics);
        Assert.Contains("tandem:plan_change_recommended{model_name=\"stories260K\"} 0", metrics);
    }
}
