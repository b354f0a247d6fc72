using Tandem.Engine.Tests;
using Tandem.Planning.Search;
using Tandem.Planning.Simulation;
using Tandem.Serving;

namespace Tandem.Planning.Tests.Search;

public class ServingPlanTests
{
    internal static PlanFile PlanOf(PlannedPlacement chosen, string deviceKind = "cpu") => new()
    {
        Model = "stories260K.gguf", Profile = "/p.json", DeviceKind = deviceKind, Workload = "chatbot",
        SloTtftSeconds = 1, SloTpotSeconds = 0.1, Attainment = 0.9, TargetRate = 2, Nodes = 1, DevicesPerNode = 8,
        IntraNodeBandwidth = 600e9, InterNodeBandwidth = 3.125e9, PrefillTokenTarget = 256, ChunkBudget = 128,
        RequestsPerProbe = 300, Seed = 0, PlanningSeconds = 1, GoodputSearches = 10, Chosen = chosen, RunnersUp = [],
    };

    private static readonly PlannedPlacement Disaggregated = new()
    {
        Mode = ServingMode.Disaggregated, Affinity = NodeAffinity.High,
        Prefill = new InstanceGroup(new ParallelConfig(1), 2, 1.0),
        Decode = new InstanceGroup(new ParallelConfig(2), 1, 2.5),
        Goodput = 2,
    };

    [Fact]
    public void A_disaggregated_plan_becomes_instances_on_consecutive_allowed_cores_prefill_first()
    {
        var options = ServingPlan.Apply(PlanOf(Disaggregated), new ServingOptions { ModelPath = "m.gguf", Mode = ServingMode.Colocated, CoresPerInstance = 3 }, [4, 5, 6, 7, 9]);
        Assert.Equal(ServingMode.Disaggregated, options.Mode);
        Assert.Equal((2, 1), (options.PrefillInstances, options.DecodeInstances));
        Assert.Null(options.CoresPerInstance);
        Assert.Equal([[4], [5], [6, 7]], options.InstanceCores!.Select(c => c.ToArray()).ToArray());
        Assert.Equal((256, 128), (options.PrefillTokenTarget, options.ChunkBudget));
        // Planned without conditional disaggregation (the phases sized apart), served so.
        Assert.Equal((0, 0), (options.LocalPrefillThreshold, options.PrefillBusyTokens));
    }

    [Fact]
    public void The_plans_KV_budget_sizes_the_served_pools_and_an_older_plan_keeps_the_servers()
    {
        var baseOptions = new ServingOptions { ModelPath = "m.gguf", KvBytesPerInstance = 256L << 20 };
        var planned = ServingPlan.Apply(PlanOf(Disaggregated) with { KvBytesPerInstance = 64L << 20 }, baseOptions, [0, 1, 2, 3]);
        Assert.Equal(64L << 20, planned.KvBytesPerInstance);
        var older = ServingPlan.Apply(PlanOf(Disaggregated), baseOptions, [0, 1, 2, 3]);
        Assert.Equal(256L << 20, older.KvBytesPerInstance);
    }

    [Fact]
    public void A_chunked_plan_sets_the_chunked_mode_and_its_instances()
    {
        var chunked = new PlannedPlacement { Mode = ServingMode.Chunked, Instances = new InstanceGroup(new ParallelConfig(2), 2, 3), Goodput = 6 };
        var options = ServingPlan.Apply(PlanOf(chunked), new ServingOptions { ModelPath = "m.gguf" }, [0, 1, 2, 3]);
        Assert.Equal(ServingMode.Chunked, options.Mode);
        Assert.Equal(2, options.ColocatedInstances);
        Assert.Equal([[0, 1], [2, 3]], options.InstanceCores!.Select(c => c.ToArray()).ToArray());
    }

    [Fact]
    public void Plans_this_machine_cannot_run_are_refused_with_the_reason()
    {
        var baseOptions = new ServingOptions { ModelPath = "m.gguf" };
        Assert.Contains("needs 4 cores", Assert.Throws<ArgumentException>(() => ServingPlan.Apply(PlanOf(Disaggregated), baseOptions, [0, 1])).Message);
        Assert.Contains("GPUs", Assert.Throws<ArgumentException>(() => ServingPlan.Apply(PlanOf(Disaggregated, "gpu"), baseOptions, [0, 1, 2, 3])).Message);
        var piped = Disaggregated with { Decode = new InstanceGroup(new ParallelConfig(1, 2), 1, 2.5) };
        Assert.Contains("one stage", Assert.Throws<ArgumentException>(() => ServingPlan.Apply(PlanOf(piped), baseOptions, [0, 1, 2, 3])).Message);
        Assert.Contains("no placement", Assert.Throws<ArgumentException>(() => ServingPlan.Apply(PlanOf(Disaggregated) with { Chosen = null }, baseOptions, [0, 1, 2, 3])).Message);
    }

    [Fact]
    public void Plan_json_round_trips_with_modes_as_words()
    {
        string dir = TestPaths.NewTempDir();
        string path = Path.Combine(dir, "plan.json");
        var plan = PlanOf(Disaggregated with { SimulatedGoodput = 2.25 }) with { KvBytesPerInstance = 128L << 20, RunnersUp = [Disaggregated with { Affinity = NodeAffinity.Low, NodesPerPair = 1 }] };
        PlanFileJson.Write(path, plan);
        string text = File.ReadAllText(path);
        Assert.Contains("\"mode\": \"disaggregated\"", text);
        Assert.Contains("\"affinity\": \"low\"", text);
        Assert.Contains("\"kv_bytes_per_instance\": 134217728", text);
        var back = PlanFileJson.Read(path);
        Assert.Equal(plan.Chosen, back.Chosen);
        Assert.Equal(plan.RunnersUp, back.RunnersUp);
        Assert.Equal(plan with { RunnersUp = back.RunnersUp }, back);

        File.WriteAllText(path, "{\"schema\": \"tandem.bench.serve/1\"}");
        Assert.Contains("not a tandem plan", Assert.Throws<ArgumentException>(() => PlanFileJson.Read(path)).Message);
    }
}
