namespace Tandem.Planning.Profiles;

/// <summary>
/// Profiled step times of one model on one kind of device, per parallel configuration, plus what the simulator needs
/// to size memory and transfers. Written by <c>tandem profile</c>, loaded from DistServe's published A100 profiles by
/// <see cref="DistServeProfiles"/>; the JSON format is in src/Tandem.Planning/README.md (<see cref="LatencyProfileJson"/>).
/// All times in seconds.
/// </summary>
public sealed record LatencyProfile
{
    public const string CurrentSchema = "tandem.profile/1";

    public string Schema { get; init; } = CurrentSchema;
    /// <summary>Model name (a file name, or e.g. facebook/opt-13b).</summary>
    public required string Model { get; init; }
    /// <summary>What was profiled, in words (CPU model and load, or the published source).</summary>
    public string? Device { get; init; }
    /// <summary>Bytes of KV cache per token (all layers, K and V) in the element type served: transfer size and pool size follow from it.</summary>
    public required long KvBytesPerToken { get; init; }
    /// <summary>Layers of the model: a pipeline of p stages splits them (and the KV) p ways.</summary>
    public int? Layers { get; init; }
    /// <summary>One entry per intra-operator degree (cores per instance, or tensor-parallel GPUs), ascending.</summary>
    public required IReadOnlyList<ConfigLatency> Configs { get; init; }
    /// <summary>KV tokens one instance holds, by parallelism (from the device's memory after weights); empty: size pools from bytes.</summary>
    public IReadOnlyList<KvCapacity> KvCapacity { get; init; } = [];

    /// <summary>The model of degree <paramref name="tp"/>; throws when it was not profiled.</summary>
    public ConfigLatency For(int tp) =>
        Configs.FirstOrDefault(c => c.Tp == tp)
        ?? throw new ArgumentException($"profile of {Model} has no entry for {tp}-way intra-op parallelism (it has {string.Join(", ", Configs.Select(c => c.Tp))})");

    /// <summary>KV tokens an instance of tp × pp holds when the profile says so; null otherwise.</summary>
    public long? KvCapacityTokens(int tp, int pp) => KvCapacity.FirstOrDefault(k => k.Tp == tp && k.Pp == pp)?.Tokens;
}

/// <summary>How many tokens of KV cache an instance of <see cref="Tp"/> × <see cref="Pp"/> devices holds.</summary>
public sealed record KvCapacity(int Tp, int Pp, long Tokens);
