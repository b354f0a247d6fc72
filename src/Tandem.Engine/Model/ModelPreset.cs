namespace Tandem.Engine.Model;

/// <summary>
/// The shape of a transformer to synthesize with random weights: the hyperparameters of a real (or a tiny
/// test) model, without its weights or vocabulary.
/// </summary>
public sealed record ModelPreset
{
    /// <summary>Name used on the command line (e.g. <c>smollm-135m</c>).</summary>
    public required string Name { get; init; }
    /// <summary>The model this shape is taken from, written as <c>general.name</c>.</summary>
    public required string DisplayName { get; init; }
    public required ModelArchitecture Architecture { get; init; }
    public required int EmbeddingLength { get; init; }
    public required int BlockCount { get; init; }
    public required int HeadCount { get; init; }
    public required int HeadCountKv { get; init; }
    public required int FeedForwardLength { get; init; }
    /// <summary>True when the output projection reuses token_embd.weight (no output.weight tensor).</summary>
    public required bool TiedOutput { get; init; }
    /// <summary>Biases on the Q, K and V projections (Qwen2).</summary>
    public required bool AttentionQkvBias { get; init; }
    public required float RopeFreqBase { get; init; }
    public required float RmsNormEpsilon { get; init; }
    public required int ContextLength { get; init; }

    public int HeadDim => EmbeddingLength / HeadCount;

    /// <summary>The architecture name as GGUF's general.architecture spells it, which also prefixes the hyperparameter keys.</summary>
    public string ArchitectureName => Architecture switch
    {
        ModelArchitecture.Llama => "llama",
        ModelArchitecture.Qwen2 => "qwen2",
        _ => throw new NotSupportedException($"architecture {Architecture}"),
    };
}
