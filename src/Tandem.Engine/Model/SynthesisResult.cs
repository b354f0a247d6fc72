namespace Tandem.Engine.Model;

/// <summary>What <see cref="ModelSynthesizer.Synthesize"/> wrote.</summary>
public sealed record SynthesisResult
{
    public required string Path { get; init; }
    /// <summary>The preset with overrides applied (layer count, context length).</summary>
    public required ModelPreset Shape { get; init; }
    public required int VocabSize { get; init; }
    public required IReadOnlyList<SynthesizedTensor> Tensors { get; init; }
    public required long ParameterCount { get; init; }
    public required long FileSize { get; init; }

    /// <summary>Tensors stored in another type than requested because their rows do not fit its blocks.</summary>
    public IReadOnlyList<SynthesizedTensor> Fallbacks => Tensors.Where(t => t.FellBack).ToList();
}
