namespace Tandem.Engine.Model;

/// <summary>The model families the engine runs; named as GGUF's general.architecture names them.</summary>
public enum ModelArchitecture
{
    /// <summary>Llama 1/2/3, Mistral, TinyLlama, SmolLM: normal (interleaved-pair) RoPE, no attention biases.</summary>
    Llama,
    /// <summary>Qwen2: NeoX-ordered RoPE and biases on Q, K and V.</summary>
    Qwen2,
}
