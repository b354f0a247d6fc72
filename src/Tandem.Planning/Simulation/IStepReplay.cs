using Tandem.Serving.Scheduling;

namespace Tandem.Planning.Simulation;

/// <summary>
/// Step times taken from a traced runtime run instead of a profile (tests): the simulator then replays the run on the
/// runtime's own clock, and any batch it schedules differently from the runtime shows up as a different trace.
/// </summary>
internal interface IStepReplay
{
    /// <summary>When instance <paramref name="instance"/> ran its next step (it schedules no earlier: the runtime's loop was busy or asleep until then).</summary>
    double NextStepStart(int instance);

    /// <summary>The next step of instance <paramref name="instance"/>, scheduled at <paramref name="now"/> as <paramref name="output"/>: seconds until it ends.</summary>
    double Step(int instance, SchedulerOutput output, double now);

    /// <summary>When the decode instance took the prefilled <paramref name="request"/> in (null: at once).</summary>
    double? MigrationIntake(Request request);
}
