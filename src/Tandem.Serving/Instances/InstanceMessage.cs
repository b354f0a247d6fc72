using Tandem.Serving.Scheduling;

namespace Tandem.Serving.Instances;

/// <summary>What other threads tell an instance's loop. The loop is the only one touching its scheduler and pool.</summary>
internal enum InstanceMessageKind
{
    /// <summary>A request to prefill (new, or preempted and to be recomputed).</summary>
    Submit,
    /// <summary>A prefilled request whose KV waits in a prefill pool (decode instances).</summary>
    Migrate,
    /// <summary>The KV a decode instance pulled (or no longer needs) may be freed (prefill instances).</summary>
    Release,
}

internal readonly record struct InstanceMessage(InstanceMessageKind Kind, Request Request);
