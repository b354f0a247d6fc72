namespace Tandem.Serving;

/// <summary>
/// The checks every engine makes before it accepts a request (the in-process runtime and the cluster frontend
/// alike): tokens inside the vocabulary, prompt + completion inside the context and inside one KV pool.
/// </summary>
public static class RequestAdmission
{
    /// <summary>Throws <see cref="RequestRejectedException"/> saying what is wrong with <paramref name="request"/>.</summary>
    public static void Validate(GenerationRequest request, int vocab, int maxContext, int maxRequestBlocks, int blockSize)
    {
        var prompt = request.PromptTokens;
        if (prompt == null || prompt.Length == 0) throw new RequestRejectedException("the prompt is empty: give at least one token");
        foreach (int t in prompt)
            if ((uint)t >= (uint)vocab) throw new RequestRejectedException($"prompt token {t} is outside the vocabulary (0..{vocab - 1})");
        if (request.MaxTokens < 0) throw new RequestRejectedException($"max_tokens must not be negative; got {request.MaxTokens}");
        long total = (long)prompt.Length + request.MaxTokens;
        if (total > maxContext)
            throw new RequestRejectedException(
                $"This model's maximum context length is {maxContext} tokens. However, you requested {total} tokens " +
                $"({prompt.Length} in the prompt, {request.MaxTokens} for the completion). Please reduce the prompt or the completion length.",
                "context_length_exceeded");
        int blocks = (int)((total + blockSize - 1) / blockSize);
        if (blocks > maxRequestBlocks)
            throw new RequestRejectedException(
                $"the request needs KV cache for {total} tokens ({blocks} blocks of {blockSize}) but an instance holds at most " +
                $"{maxRequestBlocks} blocks ({maxRequestBlocks * blockSize} tokens): reduce the prompt or max_tokens",
                "kv_capacity_exceeded");
    }
}
