namespace Tandem.Engine.Model;

/// <summary>
/// Shapes of real models (hyperparameters from their published configs) and tiny ones for tests, for
/// synthesizing random-weight GGUF files of realistic size.
/// </summary>
public static class ModelPresets
{
    /// <summary>HuggingFaceTB/SmolLM-135M: llama, tied embeddings.</summary>
    public static ModelPreset SmolLM135M { get; } = new()
    {
        Name = "smollm-135m", DisplayName = "SmolLM 135M (random weights)", Architecture = ModelArchitecture.Llama,
        EmbeddingLength = 576, BlockCount = 30, HeadCount = 9, HeadCountKv = 3, FeedForwardLength = 1536,
        TiedOutput = true, AttentionQkvBias = false, RopeFreqBase = 10000f, RmsNormEpsilon = 1e-5f, ContextLength = 2048,
    };

    /// <summary>TinyLlama/TinyLlama-1.1B: llama, separate output matrix.</summary>
    public static ModelPreset TinyLlama1B { get; } = new()
    {
        Name = "tinyllama-1.1b", DisplayName = "TinyLlama 1.1B (random weights)", Architecture = ModelArchitecture.Llama,
        EmbeddingLength = 2048, BlockCount = 22, HeadCount = 32, HeadCountKv = 4, FeedForwardLength = 5632,
        TiedOutput = false, AttentionQkvBias = false, RopeFreqBase = 10000f, RmsNormEpsilon = 1e-5f, ContextLength = 2048,
    };

    /// <summary>Qwen/Qwen2-0.5B: qwen2, tied embeddings, Q/K/V biases.</summary>
    public static ModelPreset Qwen2_05B { get; } = new()
    {
        Name = "qwen2-0.5b", DisplayName = "Qwen2 0.5B (random weights)", Architecture = ModelArchitecture.Qwen2,
        EmbeddingLength = 896, BlockCount = 24, HeadCount = 14, HeadCountKv = 2, FeedForwardLength = 4864,
        TiedOutput = true, AttentionQkvBias = true, RopeFreqBase = 1000000f, RmsNormEpsilon = 1e-6f, ContextLength = 32768,
    };

    /// <summary>
    /// Tiny llama for tests: grouped-query attention (4 query heads per KV head) and a separate output
    /// matrix; every row length is a multiple of 256, so K-quants apply without fallbacks.
    /// </summary>
    public static ModelPreset TinyLlamaGqa { get; } = new()
    {
        Name = "tiny-llama-gqa", DisplayName = "tiny llama GQA (random weights)", Architecture = ModelArchitecture.Llama,
        EmbeddingLength = 256, BlockCount = 2, HeadCount = 8, HeadCountKv = 2, FeedForwardLength = 512,
        TiedOutput = false, AttentionQkvBias = false, RopeFreqBase = 10000f, RmsNormEpsilon = 1e-5f, ContextLength = 512,
    };

    /// <summary>
    /// Tiny qwen2 for tests: tied embeddings, Q/K/V biases, GQA; row lengths 128 and 384 are not multiples
    /// of 256, so K-quants fall back the way llama-quantize does.
    /// </summary>
    public static ModelPreset TinyQwen2 { get; } = new()
    {
        Name = "tiny-qwen2", DisplayName = "tiny qwen2 (random weights)", Architecture = ModelArchitecture.Qwen2,
        EmbeddingLength = 128, BlockCount = 2, HeadCount = 4, HeadCountKv = 2, FeedForwardLength = 384,
        TiedOutput = true, AttentionQkvBias = true, RopeFreqBase = 1000000f, RmsNormEpsilon = 1e-6f, ContextLength = 1024,
    };

    public static IReadOnlyList<ModelPreset> All { get; } = [SmolLM135M, TinyLlama1B, Qwen2_05B, TinyLlamaGqa, TinyQwen2];

    public static bool TryGet(string name, out ModelPreset preset)
    {
        preset = All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))!;
        return preset != null;
    }

    /// <summary>The named preset; throws <see cref="ArgumentException"/> listing the known names otherwise.</summary>
    public static ModelPreset Get(string name) =>
        TryGet(name, out var p) ? p
        : throw new ArgumentException($"unknown preset '{name}' (known: {string.Join(", ", All.Select(x => x.Name))})");
}
