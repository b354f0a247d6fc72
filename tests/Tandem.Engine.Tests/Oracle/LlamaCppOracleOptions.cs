namespace Tandem.Engine.Tests.Oracle;

/// <summary>
/// How the llama.cpp oracle is configured. The defaults are the setting Tandem's engine is compared against:
/// F32 KV cache, flash attention off, plain (not repacked) weights, so that llama.cpp's arithmetic is the
/// textbook attention and the per-row ggml_vec_dot kernels.
/// </summary>
public sealed record LlamaCppOracleOptions
{
    /// <summary>
    /// Threads for both single-token and batch evaluation (n_threads, n_threads_batch). The logits do not depend on
    /// it; 1 by default because ggml's spinning thread pool slows down badly on a loaded machine.
    /// </summary>
    public int Threads { get; init; } = 1;

    /// <summary>KV cache element type for both K and V (type_k, type_v).</summary>
    public KvCacheType KvType { get; init; } = KvCacheType.F32;

    /// <summary>Context size in tokens (n_ctx); 0 means the model's training context, capped at 4096.</summary>
    public int ContextSize { get; init; }

    /// <summary>
    /// Logical and physical batch size (n_batch = n_ubatch). A token sequence no longer than this is evaluated
    /// by one llama_decode call in one ubatch; longer sequences are split into chunks of this size.
    /// 0 means 512 (llama.cpp's default), or the context size if smaller.
    /// </summary>
    public int BatchSize { get; init; }

    /// <summary>
    /// Flash attention (llama_flash_attn_type ENABLED instead of DISABLED). Off by default: with it on, llama.cpp
    /// casts K and V to F16 inside the attention graph whatever <see cref="KvType"/> says, so an F32 cache no
    /// longer gives F32 attention. It is what LLamaSharp's default (AUTO) resolves to on CPU.
    /// </summary>
    public bool FlashAttention { get; init; }

    /// <summary>
    /// Lets llama.cpp repack quantized weights into its interleaved CPU layouts (e.g. Q4_0 as q4_0_8x8;
    /// llama_model_params.use_extra_bufts). Its default, and faster, but the repacked kernels sum in a different
    /// order than ggml_vec_dot (logits move by ~1e-6), so it is off for comparisons.
    /// </summary>
    public bool RepackWeights { get; init; }
}
