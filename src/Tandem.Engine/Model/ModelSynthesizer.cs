using System.Runtime.ExceptionServices;
using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Model;

/// <summary>
/// Writes GGUF models of real shapes with seeded random weights and a vocabulary borrowed from another GGUF
/// file, laid out as llama.cpp's convert_hf_to_gguf.py (+ <c>llama-quantize --pure</c> for quantized types)
/// would lay out the real model: same tensor names, shapes, types and metadata keys, so llama.cpp loads them.
/// Useful for timing and memory at realistic sizes; the output is gibberish by design.
/// </summary>
public static class ModelSynthesizer
{
    /// <summary>Weight types a model can be synthesized in.</summary>
    public static IReadOnlyList<GgmlType> WeightTypes { get; } =
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
        GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
    ];

    // Small enough that the residual stream stays within a few units through every layer (each projection
    // of an RMS-normalised input has std ~0.02*sqrt(n_in) < 1), large enough that logits are not flat.
    private const float WeightStd = 0.02f;
    private const float NormNoiseStd = 0.01f;

    private const int ChunkBytes = 8 << 20;

    /// <summary>
    /// The tensors of <paramref name="shape"/> in file order, with the type each is stored in. 1-D tensors
    /// (norms, biases) are F32 as the converter writes them; 2-D weights get <paramref name="weightType"/>
    /// or, when their rows do not fit its blocks, llama-quantize's fallback.
    /// </summary>
    public static IReadOnlyList<SynthesizedTensor> PlanTensors(ModelPreset shape, int vocabSize, GgmlType weightType)
    {
        CheckWeightType(weightType);
        long embd = shape.EmbeddingLength, qDim = (long)shape.HeadCount * shape.HeadDim, kvDim = (long)shape.HeadCountKv * shape.HeadDim;
        long ff = shape.FeedForwardLength, vocab = vocabSize;
        var list = new List<SynthesizedTensor>();
        void Weight(string name, long rowLength, long rows) =>
            list.Add(new SynthesizedTensor(name, [rowLength, rows], weightType, StoredType(rowLength, weightType)));
        void Vector(string name, long length) =>
            list.Add(new SynthesizedTensor(name, [length], GgmlType.F32, GgmlType.F32));

        // Names as llama.cpp's llama-arch.cpp (LLM_TENSOR_* for LLM_ARCH_LLAMA / LLM_ARCH_QWEN2).
        Weight("token_embd.weight", embd, vocab);
        for (int i = 0; i < shape.BlockCount; i++)
        {
            string b = $"blk.{i}.";
            Vector(b + "attn_norm.weight", embd);
            Weight(b + "attn_q.weight", embd, qDim);
            if (shape.AttentionQkvBias) Vector(b + "attn_q.bias", qDim);
            Weight(b + "attn_k.weight", embd, kvDim);
            if (shape.AttentionQkvBias) Vector(b + "attn_k.bias", kvDim);
            Weight(b + "attn_v.weight", embd, kvDim);
            if (shape.AttentionQkvBias) Vector(b + "attn_v.bias", kvDim);
            Weight(b + "attn_output.weight", qDim, embd);
            Vector(b + "ffn_norm.weight", embd);
            Weight(b + "ffn_gate.weight", embd, ff);
            Weight(b + "ffn_up.weight", embd, ff);
            Weight(b + "ffn_down.weight", ff, embd);
        }
        Vector("output_norm.weight", embd);
        if (!shape.TiedOutput) Weight("output.weight", embd, vocab);
        return list;
    }

    /// <summary>
    /// The type a 2-D weight with rows of <paramref name="rowLength"/> is stored in when <paramref name="requested"/>
    /// is asked for: llama.cpp's tensor_type_fallback (src/llama-quant.cpp), Q4_K→Q5_0, Q5_K→Q5_1, Q6_K→Q8_0,
    /// and F16 when even the fallback's 32-element blocks do not fit.
    /// </summary>
    public static GgmlType StoredType(long rowLength, GgmlType requested)
    {
        if (rowLength % GgmlTypeInfo.BlockSize(requested) == 0) return requested;
        GgmlType fallback = requested switch
        {
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            // Q4_0..Q8_0 have 32-element blocks: the same "must use F16" case as below.
            _ => GgmlType.F16,
        };
        return rowLength % GgmlTypeInfo.BlockSize(fallback) == 0 ? fallback : GgmlType.F16;
    }

    /// <summary>
    /// Writes the model to <paramref name="outputPath"/> (through a temporary file, so a failure leaves nothing
    /// under that name). Generation and quantization run in parallel over rows; progress is reported as bytes.
    /// </summary>
    public static SynthesisResult Synthesize(SynthesisOptions options, string outputPath, IProgress<GgufWriteProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        CheckWeightType(options.WeightType);
        var shape = ApplyOverrides(options);

        List<KeyValuePair<string, GgufMetadataValue>> tokenizer;
        int vocabSize;
        using (var vocab = GgufFile.Open(options.VocabFrom))
        {
            var tokens = vocab.GetArray<string>("tokenizer.ggml.tokens")
                ?? throw new GgufFormatException($"{vocab.Path}: no vocabulary (metadata 'tokenizer.ggml.tokens' is missing)");
            vocabSize = tokens.Length;
            tokenizer = vocab.MetadataKeys.Where(k => k.StartsWith("tokenizer.", StringComparison.Ordinal))
                .Select(k => KeyValuePair.Create(k, vocab.Metadata[k])).ToList();
        }

        var writer = new GgufWriter(options.Alignment);
        string arch = shape.ArchitectureName;
        // Keys and value types as convert_hf_to_gguf.py writes them (gguf-py: integers u32, floats f32).
        writer.SetMetadata("general.architecture", GgufMetadataValue.Of(arch));
        writer.SetMetadata("general.type", GgufMetadataValue.Of("model"));
        writer.SetMetadata("general.name", GgufMetadataValue.Of(shape.DisplayName));
        writer.SetMetadata("general.alignment", GgufMetadataValue.Of(options.Alignment));
        writer.SetMetadata($"{arch}.block_count", GgufMetadataValue.Of((uint)shape.BlockCount));
        writer.SetMetadata($"{arch}.context_length", GgufMetadataValue.Of((uint)shape.ContextLength));
        writer.SetMetadata($"{arch}.embedding_length", GgufMetadataValue.Of((uint)shape.EmbeddingLength));
        writer.SetMetadata($"{arch}.feed_forward_length", GgufMetadataValue.Of((uint)shape.FeedForwardLength));
        writer.SetMetadata($"{arch}.attention.head_count", GgufMetadataValue.Of((uint)shape.HeadCount));
        writer.SetMetadata($"{arch}.attention.head_count_kv", GgufMetadataValue.Of((uint)shape.HeadCountKv));
        writer.SetMetadata($"{arch}.rope.freq_base", GgufMetadataValue.Of(shape.RopeFreqBase));
        writer.SetMetadata($"{arch}.attention.layer_norm_rms_epsilon", GgufMetadataValue.Of(shape.RmsNormEpsilon));
        if (shape.Architecture == ModelArchitecture.Llama)
        {
            // LlamaModel.set_gguf_parameters adds these two; Qwen2 leaves them to their defaults.
            writer.SetMetadata($"{arch}.vocab_size", GgufMetadataValue.Of((uint)vocabSize));
            writer.SetMetadata($"{arch}.rope.dimension_count", GgufMetadataValue.Of((uint)shape.HeadDim));
        }
        writer.SetMetadata("general.file_type", GgufMetadataValue.Of(LlamaFileType.ForWeightType(options.WeightType)));
        writer.SetMetadata("general.quantization_version", GgufMetadataValue.Of(2u)); // GGML_QNT_VERSION
        foreach (var (key, value) in tokenizer) writer.SetMetadata(key, value);

        var tensors = PlanTensors(shape, vocabSize, options.WeightType);
        foreach (var t in tensors)
        {
            bool isNorm = t.Name.EndsWith("_norm.weight", StringComparison.Ordinal);
            ulong tensorSeed = Mix(options.Seed ^ Fnv1a(t.Name));
            writer.AddTensor(t.Name, t.Shape, t.Type, s => WriteRandomRows(s, t, tensorSeed,
                mean: isNorm ? 1f : 0f, std: isNorm ? NormNoiseStd : WeightStd));
        }

        long size = writer.Write(outputPath, progress);
        return new SynthesisResult
        {
            Path = Path.GetFullPath(outputPath),
            Shape = shape,
            VocabSize = vocabSize,
            Tensors = tensors,
            ParameterCount = tensors.Sum(t => t.ElementCount),
            FileSize = size,
        };
    }

    private static ModelPreset ApplyOverrides(SynthesisOptions o)
    {
        if (o.BlockCount is <= 0) throw new ArgumentException($"layer count must be positive, got {o.BlockCount}");
        if (o.ContextLength is <= 0) throw new ArgumentException($"context length must be positive, got {o.ContextLength}");
        return o.Preset with
        {
            BlockCount = o.BlockCount ?? o.Preset.BlockCount,
            ContextLength = o.ContextLength ?? o.Preset.ContextLength,
        };
    }

    private static void CheckWeightType(GgmlType type)
    {
        if (!WeightTypes.Contains(type))
            throw new ArgumentException(
                $"weights cannot be synthesized as {GgmlTypeInfo.Name(type)} (supported: {string.Join(", ", WeightTypes.Select(t => GgmlTypeInfo.Name(t).ToLowerInvariant()))})");
    }

    /// <summary>Generates, encodes and streams a tensor chunk by chunk; rows within a chunk in parallel.</summary>
    private static void WriteRandomRows(Stream output, SynthesizedTensor t, ulong tensorSeed, float mean, float std)
    {
        int rowLength = checked((int)t.Shape[0]);
        long rows = t.ElementCount / rowLength;
        int rowBytes = checked((int)GgmlTypeInfo.RowBytes(t.Type, rowLength));
        int rowsPerChunk = (int)Math.Clamp(ChunkBytes / rowBytes, 1, rows);
        byte[] chunk = new byte[(long)rowsPerChunk * rowBytes];
        for (long first = 0; first < rows; first += rowsPerChunk)
        {
            int n = (int)Math.Min(rowsPerChunk, rows - first);
            long chunkFirst = first;
            try
            {
                Parallel.For(0, n, () => new float[rowLength], (i, _, buffer) =>
                {
                    // One generator per row, seeded from the row index: the bytes do not depend on the thread count.
                    FillRow(buffer, Mix(tensorSeed + (ulong)(chunkFirst + i) * 0x9E3779B97F4A7C15UL), mean, std);
                    RowKernels.Quantize(t.Type, buffer, chunk.AsSpan(i * rowBytes, rowBytes));
                    return buffer;
                }, _ => { });
            }
            catch (AggregateException e) when (e.InnerExceptions.Count > 0)
            {
                ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            }
            output.Write(chunk, 0, n * rowBytes);
        }
    }

    /// <summary>
    /// Normal-ish values: the sum of four 16-bit uniforms (Irwin–Hall, scaled to unit variance), one 64-bit
    /// SplitMix step per value; bounded at ±3.5 std, which suits weights better than true tails would.
    /// </summary>
    private static void FillRow(Span<float> row, ulong state, float mean, float std)
    {
        const float scale = 1.7320508f / 65536f; // sqrt(3) makes the variance of the sum 1
        for (int i = 0; i < row.Length; i++)
        {
            state += 0x9E3779B97F4A7C15UL;
            ulong z = Mix(state);
            float sum = (uint)(z & 0xFFFF) + (uint)((z >> 16) & 0xFFFF) + (uint)((z >> 32) & 0xFFFF) + (uint)(z >> 48) - 2f * 65535f;
            row[i] = mean + std * sum * scale;
        }
    }

    /// <summary>SplitMix64's finaliser.</summary>
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A stable hash of a tensor name (string.GetHashCode is randomised per process).</summary>
    private static ulong Fnv1a(string s)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (char c in s) h = (h ^ c) * 0x100000001B3UL;
        return h;
    }
}
