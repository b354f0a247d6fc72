using LLama.Native;

namespace Tandem.Engine.Tests.Oracle;

/// <summary>
/// llama.cpp (through LLamaSharp's low-level API) as the reference Tandem's engine is compared against:
/// tokenization, logits after evaluating a token sequence, and greedy continuation. Loads the model once and
/// owns one single-sequence context. Every evaluation starts from an empty KV cache. Not thread-safe.
/// </summary>
public sealed class LlamaCppOracle : IDisposable
{
    private readonly SafeLlamaModelHandle _model;
    private readonly SafeLLamaContextHandle _context;
    private readonly LLamaBatch _batch = new();

    public LlamaCppOracle(string ggufPath, LlamaCppOracleOptions? options = null)
    {
        if (!File.Exists(ggufPath))
            throw new FileNotFoundException("GGUF file not found", ggufPath);
        Options = options ?? new LlamaCppOracleOptions();
        if (Options.Threads < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "Threads must be at least 1");

        LlamaCppNative.EnsureInitialized();

        var modelParams = LLamaModelParams.Default();
        modelParams.n_gpu_layers = 0;
        modelParams.use_extra_bufts = Options.RepackWeights;
        try
        {
            _model = SafeLlamaModelHandle.LoadFromFile(ggufPath, modelParams);
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"llama.cpp could not load {ggufPath}: {LlamaCppNative.LastProblem}", e);
        }
        Vocabulary = new LlamaCppVocabulary(_model);

        int contextSize = Options.ContextSize > 0 ? Options.ContextSize : Math.Min(_model.ContextSize, 4096);
        int batchSize = Options.BatchSize > 0 ? Options.BatchSize : Math.Min(512, contextSize);

        var contextParams = LLamaContextParams.Default();
        contextParams.n_ctx = (uint)contextSize;
        // n_ubatch = n_batch so that a sequence up to BatchSize long is computed as one graph, like Tandem's prefill.
        contextParams.n_batch = (uint)batchSize;
        contextParams.n_ubatch = (uint)batchSize;
        contextParams.n_seq_max = 1;
        contextParams.n_threads = Options.Threads;
        contextParams.n_threads_batch = Options.Threads;
        var kvType = Options.KvType == KvCacheType.F32 ? GGMLType.GGML_TYPE_F32 : GGMLType.GGML_TYPE_F16;
        contextParams.type_k = kvType;
        contextParams.type_v = kvType;
        // The default, AUTO, enables flash attention on CPU, which computes attention on F16 copies of K and V;
        // DISABLED gives the plain softmax(QK^T)V path on the cache's own type.
        contextParams.llama_flash_attn_type = Options.FlashAttention
            ? LLamaFlashAttentionType.LLAMA_FLASH_ATTENTION_TYPE_ENABLED
            : LLamaFlashAttentionType.LLAMA_FLASH_ATTENTION_TYPE_DISABLED;
        contextParams.embeddings = false;
        contextParams.no_perf = true;
        try
        {
            _context = SafeLLamaContextHandle.Create(_model, contextParams);
        }
        catch (Exception e)
        {
            _model.Dispose();
            throw new InvalidOperationException($"llama.cpp could not create a context for {ggufPath}: {LlamaCppNative.LastProblem}", e);
        }
    }

    public LlamaCppOracleOptions Options { get; }

    public int VocabSize => _model.Vocab.Count;

    /// <summary>The context size llama.cpp actually allocated (it may round the requested one up).</summary>
    public int ContextSize => (int)_context.ContextSize;

    public int BatchSize => (int)_context.BatchSize;

    public int? BosToken => _model.Vocab.BOS is { } bos ? (int)bos : null;

    public int? EosToken => _model.Vocab.EOS is { } eos ? (int)eos : null;

    /// <summary>Whether llama.cpp treats the token as end of generation (EOS, EOT, ...).</summary>
    public bool IsEndOfGeneration(int token) => ((LLamaToken)token).IsEndOfGeneration(_model.Vocab);

    /// <summary>llama.cpp's tokenizer and token pieces for this model.</summary>
    public LlamaCppVocabulary Vocabulary { get; }

    /// <inheritdoc cref="LlamaCppVocabulary.Tokenize"/>
    public int[] Tokenize(string text, bool addBos, bool parseSpecial = false) => Vocabulary.Tokenize(text, addBos, parseSpecial);

    /// <inheritdoc cref="LlamaCppVocabulary.StreamedText"/>
    public string StreamedText(ReadOnlySpan<int> tokens) => Vocabulary.StreamedText(tokens);

    /// <summary>Evaluates the tokens (positions 0..n-1) from an empty cache and returns the logits of the last position.</summary>
    public float[] EvaluateLastLogits(ReadOnlySpan<int> tokens)
    {
        int lastIndex = Evaluate(tokens, allLogits: false, allRows: null);
        return _context.GetLogitsIth(lastIndex).ToArray();
    }

    /// <summary>Evaluates the tokens (positions 0..n-1) from an empty cache and returns the logits of every position.</summary>
    public float[][] EvaluateAllLogits(ReadOnlySpan<int> tokens)
    {
        var rows = new float[tokens.Length][];
        Evaluate(tokens, allLogits: true, allRows: rows);
        return rows;
    }

    /// <summary>
    /// Greedy (argmax) continuation of <paramref name="count"/> tokens after the prompt, evaluated in one batch from
    /// an empty cache and then one token per llama_decode. Continues past end-of-generation tokens unless asked to
    /// stop, in which case the end token is the last one returned.
    /// </summary>
    public int[] GreedyContinuation(ReadOnlySpan<int> prompt, int count, bool stopAtEndOfGeneration = false)
        => Greedy(prompt, count, stopAtEndOfGeneration, stepLogits: null);

    /// <summary>As <see cref="GreedyContinuation"/>, also returning the logits each token was chosen from.</summary>
    public (int[] Tokens, float[][] Logits) GreedyContinuationWithLogits(ReadOnlySpan<int> prompt, int count, bool stopAtEndOfGeneration = false)
    {
        var logits = new List<float[]>(count);
        int[] tokens = Greedy(prompt, count, stopAtEndOfGeneration, logits);
        return (tokens, logits.ToArray());
    }

    /// <summary>
    /// What llama.cpp's server answers a greedy request with: up to <paramref name="maxTokens"/> argmax tokens,
    /// ending with (and including) an end-of-generation token if one comes, and their streamed text, in which that
    /// end token shows as nothing.
    /// </summary>
    public (int[] Tokens, string Text) GreedyCompletion(ReadOnlySpan<int> prompt, int maxTokens)
    {
        int[] tokens = GreedyContinuation(prompt, maxTokens, stopAtEndOfGeneration: true);
        return (tokens, StreamedText(tokens));
    }

    /// <summary>Index of the largest logit; the first one wins ties, as in llama.cpp's greedy sampler.</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
                best = i;
        }
        return best;
    }

    public void Dispose()
    {
        _context.Dispose();
        _model.Dispose();
    }

    private int[] Greedy(ReadOnlySpan<int> prompt, int count, bool stopAtEndOfGeneration, List<float[]>? stepLogits)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (prompt.Length + Math.Max(count - 1, 0) > ContextSize)
            throw new ArgumentException($"prompt ({prompt.Length}) + continuation ({count}) does not fit the context ({ContextSize})");

        var generated = new List<int>(count);
        if (count == 0)
            return [];

        int outputIndex = Evaluate(prompt, allLogits: false, allRows: null);
        int position = prompt.Length;
        while (true)
        {
            var logits = _context.GetLogitsIth(outputIndex);
            stepLogits?.Add(logits.ToArray());
            int next = ArgMax(logits);
            generated.Add(next);
            if (generated.Count == count || (stopAtEndOfGeneration && IsEndOfGeneration(next)))
                break;

            _batch.Clear();
            outputIndex = _batch.Add(next, position, LLamaSeqId.Zero, true);
            Decode();
            position++;
        }
        return generated.ToArray();
    }

    /// <summary>
    /// Clears the cache and decodes the tokens in chunks of <see cref="BatchSize"/> (one chunk when it fits);
    /// returns the batch index of the last token within the last chunk, for llama_get_logits_ith.
    /// </summary>
    private int Evaluate(ReadOnlySpan<int> tokens, bool allLogits, float[][]? allRows)
    {
        if (tokens.IsEmpty)
            throw new ArgumentException("at least one token is needed", nameof(tokens));
        if (tokens.Length > ContextSize)
            throw new ArgumentException($"{tokens.Length} tokens do not fit the context ({ContextSize})", nameof(tokens));
        foreach (int token in tokens)
            CheckToken(token);

        _context.MemoryClear(true);
        int lastIndex = 0;
        for (int start = 0; start < tokens.Length; start += BatchSize)
        {
            int chunk = Math.Min(BatchSize, tokens.Length - start);
            _batch.Clear();
            for (int i = 0; i < chunk; i++)
            {
                int position = start + i;
                lastIndex = _batch.Add(tokens[position], position, LLamaSeqId.Zero, allLogits || position == tokens.Length - 1);
            }
            Decode();
            if (allRows != null)
            {
                for (int i = 0; i < chunk; i++)
                    allRows[start + i] = _context.GetLogitsIth(i).ToArray();
            }
        }
        return lastIndex;
    }

    private void Decode()
    {
        var result = _context.Decode(_batch);
        if (result != DecodeResult.Ok)
            throw new InvalidOperationException($"llama_decode returned {result}: {LlamaCppNative.LastProblem}");
    }

    private void CheckToken(int token)
    {
        if ((uint)token >= (uint)VocabSize)
            throw new ArgumentOutOfRangeException(nameof(token), token, $"token id outside the vocabulary (0..{VocabSize - 1})");
    }
}
