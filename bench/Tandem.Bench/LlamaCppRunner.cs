using Tandem.Engine.Tests.Oracle;
using System.Diagnostics;
using LLama.Native;

namespace Tandem.Bench;

/// <summary>
/// Times llama.cpp (through LLamaSharp's low-level API) on a GGUF file, the way llama-bench and
/// llama-batched-bench do: random valid token ids, no sampling, model load and warm-up excluded.
/// The settings below default to what llama.cpp itself would use on CPU except flash attention, which is off so
/// that the attention work matches an engine that does plain attention; set the properties to compare otherwise.
/// </summary>
public sealed class LlamaCppRunner
{
    /// <summary>KV cache element type (type_k = type_v). llama.cpp's default is F16.</summary>
    public GGMLType KvType { get; init; } = GGMLType.GGML_TYPE_F16;

    /// <summary>Flash attention (ENABLED vs DISABLED; llama.cpp's AUTO turns it on for CPU).</summary>
    public bool FlashAttention { get; init; }

    /// <summary>Repacked weight layouts for the CPU (use_extra_bufts); llama.cpp's default and faster.</summary>
    public bool RepackWeights { get; init; } = true;

    /// <summary>Timed repetitions after one warm-up; the result is the mean of the per-repetition rates, as in llama-bench.</summary>
    public int Repetitions { get; init; } = 3;

    /// <summary>One KV buffer shared by all sequences (kv_unified) instead of one stream per sequence.</summary>
    public bool UnifiedKvCache { get; init; }

    /// <summary>
    /// Prefill: one llama_decode of <paramref name="promptTokens"/> tokens (one ubatch); decode: then
    /// <paramref name="decodeTokens"/> llama_decode calls of one token each, continuing the same sequence, or with
    /// <paramref name="decodeFromEmpty"/> starting again from an empty cache as llama-bench's tg test does.
    /// </summary>
    public EngineTiming Time(string ggufPath, int threads, int promptTokens, int decodeTokens, bool decodeFromEmpty = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(promptTokens, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(decodeTokens);

        using var model = LoadModel(ggufPath);
        using var context = CreateContext(model, threads, contextTokens: promptTokens + decodeTokens + 1,
            batchTokens: promptTokens, sequences: 1);
        var tokens = new TokenSource(model, seed: 1234);
        int[] prompt = tokens.Prompt(promptTokens);
        var batch = new LLamaBatch();

        // Warm-up (llama-bench does the same): a full prompt and one generated token, then an empty cache.
        Prefill(context, batch, prompt, LLamaSeqId.Zero);
        DecodeOne(context, batch, tokens.Next(), promptTokens);

        var prefill = new double[Repetitions];
        var decode = new double[Repetitions];
        for (int rep = 0; rep < Repetitions; rep++)
        {
            context.MemoryClear(true);

            long start = Stopwatch.GetTimestamp();
            Prefill(context, batch, prompt, LLamaSeqId.Zero);
            prefill[rep] = promptTokens / Stopwatch.GetElapsedTime(start).TotalSeconds;

            if (decodeTokens == 0)
                continue;
            int position = promptTokens;
            if (decodeFromEmpty)
            {
                context.MemoryClear(true);
                position = 0;
            }
            start = Stopwatch.GetTimestamp();
            for (int i = 0; i < decodeTokens; i++)
                DecodeOne(context, batch, tokens.Next(), position + i);
            decode[rep] = decodeTokens / Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        return new EngineTiming(prefill, decode);
    }

    /// <summary>
    /// Batched decode, like llama-batched-bench's S_TG: <paramref name="batch"/> sequences (seq ids 0..batch-1),
    /// each first prefilled with <paramref name="contextTokens"/> tokens (not timed), then <paramref name="steps"/>
    /// llama_decode calls that each append one token to every sequence. Returns generated tokens per second over
    /// all sequences (batch * steps / time).
    /// </summary>
    public double DecodeBatchTokPerSec(string path, int threads, int batch, int contextTokens, int steps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(contextTokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);

        using var model = LoadModel(path);
        // Room for every sequence: with a per-sequence cache (kv_unified off) each gets n_ctx / n_seq_max cells.
        int perSequence = contextTokens + steps + 2;
        using var context = CreateContext(model, threads, contextTokens: batch * perSequence,
            batchTokens: Math.Max(contextTokens, batch), sequences: batch);
        var tokens = new TokenSource(model, seed: 4321);
        var llamaBatch = new LLamaBatch();

        double sum = 0;
        for (int rep = 0; rep <= Repetitions; rep++)
        {
            context.MemoryClear(true);
            for (int s = 0; s < batch; s++)
                Prefill(context, llamaBatch, tokens.Prompt(contextTokens), (LLamaSeqId)s);

            // Repetition 0 is the warm-up.
            int timedSteps = rep == 0 ? 1 : steps;
            long start = Stopwatch.GetTimestamp();
            for (int step = 0; step < timedSteps; step++)
            {
                llamaBatch.Clear();
                for (int s = 0; s < batch; s++)
                    llamaBatch.Add(tokens.Next(), contextTokens + step, (LLamaSeqId)s, true);
                Decode(context, llamaBatch);
            }
            if (rep > 0)
                sum += (double)batch * steps / Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        return sum / Repetitions;
    }

    private SafeLlamaModelHandle LoadModel(string ggufPath)
    {
        if (!File.Exists(ggufPath))
            throw new FileNotFoundException("GGUF file not found", ggufPath);
        LlamaCppNative.EnsureInitialized();
        var modelParams = LLamaModelParams.Default();
        modelParams.n_gpu_layers = 0;
        modelParams.use_extra_bufts = RepackWeights;
        try
        {
            return SafeLlamaModelHandle.LoadFromFile(ggufPath, modelParams);
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"llama.cpp could not load {ggufPath}: {LlamaCppNative.LastProblem}", e);
        }
    }

    private SafeLLamaContextHandle CreateContext(SafeLlamaModelHandle model, int threads, int contextTokens, int batchTokens, int sequences)
    {
        var p = LLamaContextParams.Default();
        p.n_ctx = (uint)contextTokens;
        // n_ubatch = n_batch: a prompt is one graph, not split into 512-token ubatches.
        p.n_batch = (uint)batchTokens;
        p.n_ubatch = (uint)batchTokens;
        p.n_seq_max = (uint)sequences;
        p.kv_unified = UnifiedKvCache;
        p.n_threads = threads;
        p.n_threads_batch = threads;
        p.type_k = KvType;
        p.type_v = KvType;
        p.llama_flash_attn_type = FlashAttention
            ? LLamaFlashAttentionType.LLAMA_FLASH_ATTENTION_TYPE_ENABLED
            : LLamaFlashAttentionType.LLAMA_FLASH_ATTENTION_TYPE_DISABLED;
        p.embeddings = false;
        p.no_perf = true;
        try
        {
            return SafeLLamaContextHandle.Create(model, p);
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"llama.cpp could not create a context: {LlamaCppNative.LastProblem}", e);
        }
    }

    private static void Prefill(SafeLLamaContextHandle context, LLamaBatch batch, int[] prompt, LLamaSeqId sequence)
    {
        batch.Clear();
        for (int i = 0; i < prompt.Length; i++)
            batch.Add(prompt[i], i, sequence, i == prompt.Length - 1);
        Decode(context, batch);
    }

    private static void DecodeOne(SafeLLamaContextHandle context, LLamaBatch batch, int token, int position)
    {
        batch.Clear();
        batch.Add(token, position, LLamaSeqId.Zero, true);
        Decode(context, batch);
    }

    private static void Decode(SafeLLamaContextHandle context, LLamaBatch batch)
    {
        var result = context.Decode(batch);
        if (result != DecodeResult.Ok)
            throw new InvalidOperationException($"llama_decode returned {result}: {LlamaCppNative.LastProblem}");
    }

    /// <summary>Reproducible random token ids valid for the vocabulary; prompts start with BOS when the model has one.</summary>
    private sealed class TokenSource(SafeLlamaModelHandle model, int seed)
    {
        private readonly Random _random = new(seed);
        private readonly int _vocab = model.Vocab.Count;
        private readonly int? _bos = model.Vocab.BOS is { } bos ? (int)bos : null;

        public int Next() => _random.Next(_vocab);

        public int[] Prompt(int length)
        {
            var ids = new int[length];
            for (int i = 0; i < length; i++)
                ids[i] = Next();
            if (_bos is { } bos)
                ids[0] = bos;
            return ids;
        }
    }
}
