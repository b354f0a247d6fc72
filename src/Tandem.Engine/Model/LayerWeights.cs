using Tandem.Engine.Kernels;

namespace Tandem.Engine.Model;

/// <summary>One transformer block's weights. Matrices stay in the file; norms and biases are F32 copies.</summary>
public sealed class LayerWeights
{
    /// <summary>attn_norm.weight [embd]</summary>
    public required float[] AttnNorm { get; init; }
    /// <summary>attn_q.weight: qDim rows of embd</summary>
    public required WeightMatrix Wq { get; init; }
    /// <summary>attn_k.weight: kvDim rows of embd</summary>
    public required WeightMatrix Wk { get; init; }
    /// <summary>attn_v.weight: kvDim rows of embd</summary>
    public required WeightMatrix Wv { get; init; }
    /// <summary>attn_output.weight: embd rows of qDim</summary>
    public required WeightMatrix Wo { get; init; }
    /// <summary>Qwen2's attn_q/k/v.bias, null for llama.</summary>
    public float[]? Bq { get; init; }
    public float[]? Bk { get; init; }
    public float[]? Bv { get; init; }
    /// <summary>ffn_norm.weight [embd]</summary>
    public required float[] FfnNorm { get; init; }
    /// <summary>ffn_gate.weight: ffn rows of embd</summary>
    public required WeightMatrix Gate { get; init; }
    /// <summary>ffn_up.weight: ffn rows of embd</summary>
    public required WeightMatrix Up { get; init; }
    /// <summary>ffn_down.weight: embd rows of ffn</summary>
    public required WeightMatrix Down { get; init; }
}
