using k8s.Models;

namespace Tandem.Deploy.Tests;

/// <summary>A container's <c>tandem serve</c> arguments read as flags and values (every flag of serve takes one value).</summary>
internal static class ContainerArgs
{
    /// <summary>The flags, in order, each with the argument after it.</summary>
    public static IReadOnlyList<(string Flag, string? Value)> Flags(V1Container container)
    {
        var args = container.Args ?? [];
        var flags = new List<(string, string?)>();
        for (int i = 0; i < args.Count; i++)
            if (args[i].StartsWith("--", StringComparison.Ordinal))
                flags.Add((args[i], i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[i + 1] : null));
        return flags;
    }

    public static string? Value(V1Container container, string flag) => Flags(container).LastOrDefault(f => f.Flag == flag).Value;

    /// <summary>The one container of a Deployment's pod (Tandem's pods have no sidecars).</summary>
    public static V1Container Container(V1Deployment deployment) => Assert.Single(deployment.Spec.Template.Spec.Containers);
}
