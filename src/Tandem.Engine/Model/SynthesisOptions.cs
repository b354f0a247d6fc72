using Tandem.Engine.Gguf;

namespace Tandem.Engine.Model;

/// <summary>What <see cref="ModelSynthesizer"/> makes: a preset's shape, a weight type, a borrowed vocabulary.</summary>
public sealed record SynthesisOptions
{
    public required ModelPreset Preset { get; init; }
    /// <summary>Type of the quantizable weights (2-D *.weight tensors); norms and biases stay F32.</summary>
    public required GgmlType WeightType { get; init; }
    /// <summary>A GGUF file whose <c>tokenizer.*</c> metadata is copied; the vocabulary size follows it.</summary>
    public required string VocabFrom { get; init; }
    public ulong Seed { get; init; }
    /// <summary>Overrides the preset's layer count.</summary>
    public int? BlockCount { get; init; }
    /// <summary>Overrides the preset's training context length.</summary>
    public int? ContextLength { get; init; }
    public uint Alignment { get; init; } = GgufFile.DefaultAlignment;
}
