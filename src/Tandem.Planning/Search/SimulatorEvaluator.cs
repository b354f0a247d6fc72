using Tandem.Benchmark.Metrics;
using Tandem.Benchmark.Workloads;
using Tandem.Planning.Profiles;
using Tandem.Planning.Simulation;
using Tandem.Serving;

namespace Tandem.Planning.Search;

/// <summary>
/// The planner's evaluator over <see cref="ServingSimulator"/>: each probe simulates <see cref="RequestsPerProbe"/>
/// requests of the workload at the rate (Poisson, a fixed seed, so a probe is a pure function of its arguments) on
/// the unit's placement, with step times from the profile. How a unit becomes a placement:
/// <list type="bullet">
/// <item>a phase alone (Algorithm 1): the instance under test plus <see cref="HelperInstances"/> instances of the
/// other phase at the profile's widest degree, so the other phase never holds it back; only the phase's own SLO is
/// judged. KV moves over the cross-node link, as it would between the phases' nodes (the intra-node one on a one-node cluster).</item>
/// <item>a pair (Algorithm 2): one prefill and one decode instance, KV over the intra-node link.</item>
/// <item>colocated and chunked: one instance.</item>
/// </list>
/// Memory: a profile with a KV capacity table (DistServe's GPU profiles) decides which tp × pp fit and how many
/// pipeline stages there can be; without one (a CPU profile) every profiled degree fits, there is no pipelining (the
/// runtime has none), and pools are sized from <see cref="Template"/>'s KV bytes as <c>tandem serve --kv-memory</c> does.
/// </summary>
public sealed class SimulatorEvaluator : IPlacementEvaluator
{
    /// <summary>DistServe's simulator probes each rate with 300 requests.</summary>
    public const int DefaultRequestsPerProbe = 300;
    /// <summary>Instances of the other phase beside a phase simulated alone.</summary>
    public const int HelperInstances = 4;

    private readonly LatencyProfile _profile;
    private readonly WorkloadSpec _workload;
    private readonly ClusterSpec _cluster;
    private readonly ParallelConfig _widest;

    public SimulatorEvaluator(LatencyProfile profile, WorkloadSpec workload, ClusterSpec cluster, Placement? template = null,
        int requestsPerProbe = DefaultRequestsPerProbe, int seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(requestsPerProbe, 1);
        _profile = profile;
        _workload = workload;
        _cluster = cluster;
        // DistServe's search sizes the phases apart (Algorithm 1: a phase alone, judged on its own SLO), which conditional
        // disaggregation would mix by prefilling short prompts on decode instances: the planner's placements run without
        // it, whatever the template says, and ServingPlan.Apply serves a plan so.
        Template = (template ?? new Placement()) with { LocalPrefillThreshold = 0, PrefillBusyTokens = 0 };
        RequestsPerProbe = requestsPerProbe;
        Seed = seed;
        TensorDegrees = profile.Configs.Select(c => c.Tp).Distinct().Order().ToList();
        MaxPipelineDegree = profile.KvCapacity.Count == 0 ? 1 : profile.KvCapacity.Max(k => k.Pp);
        _widest = new ParallelConfig(TensorDegrees[^1]);
    }

    /// <summary>
    /// Scheduler and memory settings every simulated placement starts from (mode, counts, parallelism and link are set
    /// per unit); conditional disaggregation off.
    /// </summary>
    public Placement Template { get; }
    public int RequestsPerProbe { get; }
    public int Seed { get; }
    public IReadOnlyList<int> TensorDegrees { get; }
    public int MaxPipelineDegree { get; }

    /// <summary>"cpu" for a profile of this engine (no KV capacity table: devices are cores, <c>tandem serve</c> can run the plan), "gpu" for DistServe's.</summary>
    public string DeviceKind => _profile.KvCapacity.Count == 0 ? "cpu" : "gpu";

    public bool Fits(ParallelConfig parallelism) =>
        _profile.KvCapacity.Count == 0 ? parallelism.Pp == 1 : _profile.KvCapacityTokens(parallelism.Tp, parallelism.Pp) is > 0;

    public double Attainment(PlanningUnit unit, double rate, SloSpec slo) =>
        ServingSimulator.Run(PlacementOf(unit), _profile, _workload, rate, RequestsPerProbe, Seed, slo).Summary.SloAttainment;

    /// <summary>Attainment of a whole planned placement (every instance at once), to check what the per-unit goodputs promise.</summary>
    public double Attainment(PlannedPlacement placement, double rate, SloSpec slo) =>
        ServingSimulator.Run(PlacementOf(placement), _profile, _workload, rate, RequestsPerProbe, Seed, slo).Summary.SloAttainment;

    /// <summary>The simulator's placement for a planned one; also what <c>tandem serve --plan</c> starts.</summary>
    public Placement PlacementOf(PlannedPlacement placement) => placement.Mode == ServingMode.Disaggregated
        ? Template with
        {
            Mode = ServingMode.Disaggregated,
            PrefillInstances = placement.Prefill!.Count, PrefillParallel = placement.Prefill.Parallelism,
            DecodeInstances = placement.Decode!.Count, DecodeParallel = placement.Decode.Parallelism,
            LinkBytesPerSecond = placement.Affinity == NodeAffinity.Low ? _cluster.IntraNodeBandwidth : HighAffinityLink,
        }
        : Template with { Mode = placement.Mode, ColocatedInstances = placement.Instances!.Count, ColocatedParallel = placement.Instances.Parallelism };

    internal Placement PlacementOf(PlanningUnit unit) => unit.Shape switch
    {
        UnitShape.PrefillOnly => Disaggregated(unit.Parallelism, 1, _widest, HelperInstances, HighAffinityLink),
        UnitShape.DecodeOnly => Disaggregated(_widest, HelperInstances, unit.Parallelism, 1, HighAffinityLink),
        UnitShape.PairedInNode => Disaggregated(unit.Parallelism, 1, unit.DecodeParallelism!.Value, 1, _cluster.IntraNodeBandwidth),
        _ => Template with { Mode = unit.Mode, ColocatedInstances = 1, ColocatedParallel = unit.Parallelism },
    };

    /// <summary>Algorithm 1 places the phases anywhere: KV crosses nodes, unless the cluster is one node.</summary>
    private double HighAffinityLink => _cluster.Nodes == 1 ? _cluster.IntraNodeBandwidth : _cluster.InterNodeBandwidth;

    private Placement Disaggregated(ParallelConfig prefill, int prefillCount, ParallelConfig decode, int decodeCount, double link) => Template with
    {
        Mode = ServingMode.Disaggregated,
        PrefillInstances = prefillCount, PrefillParallel = prefill,
        DecodeInstances = decodeCount, DecodeParallel = decode,
        LinkBytesPerSecond = link,
    };
}
