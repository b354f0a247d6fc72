using Tandem.Serving;

namespace Tandem.Planning.Search;

/// <summary>
/// What <c>tandem serve --plan</c> runs: a plan's chosen placement mapped onto the runtime's options (mode, instance
/// counts, each instance's cores taken in order from the cores the process may use, prefill first, and the scheduler
/// settings and KV budget the plan was simulated with, conditional disaggregation off as the planner simulates).
/// Refuses, saying why, what this machine cannot run: a plan for GPU profiles, pipeline stages (the runtime has none),
/// or more cores than the process may use.
/// </summary>
public static class ServingPlan
{
    public static ServingOptions Apply(PlanFile plan, ServingOptions options, IReadOnlyList<int> availableCores, string source = "the plan")
    {
        if (plan.DeviceKind != "cpu")
            throw new ArgumentException($"{source} places {plan.Model} on {plan.DeviceKind.ToUpperInvariant()}s (a simulated cluster of {plan.Nodes} × {plan.DevicesPerNode}); " +
                "tandem serve runs on this machine's CPU cores: plan with a profile of the served model from 'tandem profile'");
        if (plan.Chosen is not { } chosen)
            throw new ArgumentException($"{source} has no placement: nothing met the SLOs it was planned for");
        var groups = chosen.Mode == ServingMode.Disaggregated ? new[] { chosen.Prefill!, chosen.Decode! } : [chosen.Instances!];
        if (groups.Any(g => g.Parallelism.Pp > 1))
            throw new ArgumentException($"{source} pipelines instances ({chosen.Describe()}); the CPU runtime runs each instance as one stage");
        int needed = chosen.Devices;
        if (needed > availableCores.Count)
            throw new ArgumentException($"{source} needs {needed} cores ({chosen.Describe()}) but this process may use {availableCores.Count} " +
                $"([{string.Join(",", availableCores)}]): re-plan with --devices-per-node {availableCores.Count}, or run where more cores are allowed");

        var cores = new List<IReadOnlyList<int>>();
        int next = 0;
        foreach (var g in groups)
            for (int i = 0; i < g.Count; i++, next += g.Parallelism.Tp)
                cores.Add(availableCores.Skip(next).Take(g.Parallelism.Tp).ToArray());
        return options with
        {
            Mode = chosen.Mode,
            PrefillInstances = chosen.Prefill?.Count ?? options.PrefillInstances,
            DecodeInstances = chosen.Decode?.Count ?? options.DecodeInstances,
            ColocatedInstances = chosen.Instances?.Count ?? options.ColocatedInstances,
            CoresPerInstance = null,
            InstanceCores = cores,
            PrefillTokenTarget = plan.PrefillTokenTarget,
            ChunkBudget = plan.ChunkBudget,
            KvBytesPerInstance = plan.KvBytesPerInstance ?? options.KvBytesPerInstance,
            // The planner simulated its placements without conditional disaggregation (SimulatorEvaluator): served as planned.
            LocalPrefillThreshold = 0,
            PrefillBusyTokens = 0,
        };
    }
}
