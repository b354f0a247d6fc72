using System.Globalization;
using Tandem.Serving;

namespace Tandem.Server.Health;

/// <summary>
/// Whether an instance's loop is doing its job: not dead, and, when it has work, finishing iterations. A loop
/// waiting for work finishes none and is fine; one that holds work and finishes none for the stall timeout is stuck
/// (a hung step, a deadlock) and only a restart helps — which is what /health's 503 asks an orchestrator for.
/// </summary>
internal static class InstanceHealth
{
    /// <summary>Why <paramref name="instance"/> is unhealthy, or null when it is fine.</summary>
    public static string? Problem(InstanceSnapshot instance, TimeSpan stallTimeout)
    {
        if (instance.Failure is { } failure)
            return $"{instance.Name}: {failure}";
        if (instance.HasWork && instance.SecondsSinceIteration > stallTimeout.TotalSeconds)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"{instance.Name}: no progress for {instance.SecondsSinceIteration:0.#} s with work queued ({instance.Waiting} waiting, {instance.Running} running)");
        }
        return null;
    }
}
