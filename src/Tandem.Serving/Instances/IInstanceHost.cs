using Tandem.Serving.Scheduling;

namespace Tandem.Serving.Instances;

/// <summary>
/// What an instance asks of whoever runs it: the one clock, warnings, and where requests go next. The in-process
/// <see cref="ServingRuntime"/> routes between its own instances; a cluster worker (<see cref="Workers.WorkerRuntime"/>)
/// hands them back to the frontend that sent them.
/// </summary>
internal interface IInstanceHost
{
    /// <summary>Seconds on the host's clock (every timeline event).</summary>
    double Now { get; }
    /// <summary>Who records every intake and step (the planner's replay), if anyone.</summary>
    IServingTrace? Trace { get; }
    /// <summary>Steps each instance keeps in its <see cref="Diagnostics.StepLog"/> (0: none recorded).</summary>
    int StepLogCapacity { get; }
    /// <summary>Nice value for the instances' threads (0: left as started).</summary>
    int InstanceNice { get; }
    void Warn(string message);
    /// <summary>A prefilled request whose KV is now held (its <see cref="Request.Migration"/> set) goes to decode.</summary>
    void RouteToDecode(Request request);
    /// <summary>
    /// A request preempted on a decode instance (its KV freed) must be prefilled again, prompt + output so far; or a prompt
    /// sent to a decode instance to prefill that its pool cannot hold (it holds nothing there) goes to a prefill instance.
    /// </summary>
    void Resubmit(Request request);
}
