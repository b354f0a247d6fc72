using Tandem.Engine.Gguf;

namespace Tandem.Engine.Model;

/// <summary>
/// Hyperparameters of a transformer, read from GGUF metadata the way llama.cpp reads them
/// (keys prefixed by the architecture name, e.g. <c>llama.embedding_length</c>).
/// </summary>
public sealed record ModelConfig
{
    public required ModelArchitecture Architecture { get; init; }
    /// <summary>The architecture string as stored in the file.</summary>
    public required string ArchitectureName { get; init; }
    public required int EmbeddingLength { get; init; }
    public required int BlockCount { get; init; }
    public required int FeedForwardLength { get; init; }
    public required int HeadCount { get; init; }
    public required int HeadCountKv { get; init; }
    public required int HeadDim { get; init; }
    /// <summary>Dimensions of each head that RoPE rotates (the rest pass through).</summary>
    public required int RopeDimensions { get; init; }
    public required float RopeFreqBase { get; init; }
    /// <summary>1/factor for linear scaling ("rope.scaling.type = linear"), 1 otherwise.</summary>
    public required float RopeFreqScale { get; init; }
    public required float RmsNormEpsilon { get; init; }
    public required int ContextLength { get; init; }
    public required int VocabSize { get; init; }
    public string? Name { get; init; }

    public int KvDim => HeadCountKv * HeadDim;
    public int QDim => HeadCount * HeadDim;

    public static ModelConfig FromGguf(GgufFile f)
    {
        string arch = f.GetString("general.architecture")
            ?? throw new GgufFormatException($"{f.Path}: missing metadata 'general.architecture'");
        var kind = arch switch
        {
            "llama" => ModelArchitecture.Llama,
            "qwen2" => ModelArchitecture.Qwen2,
            _ => throw new GgufFormatException($"{f.Path}: unsupported architecture '{arch}' (supported: llama, qwen2)"),
        };

        int Req(string suffix)
        {
            long v = f.GetInteger($"{arch}.{suffix}") ?? throw new GgufFormatException($"{f.Path}: missing metadata '{arch}.{suffix}'");
            if (v <= 0 || v > int.MaxValue) throw new GgufFormatException($"{f.Path}: metadata '{arch}.{suffix}' = {v} is out of range");
            return (int)v;
        }

        int embd = Req("embedding_length");
        int heads = Req("attention.head_count");
        int headsKv = (int)(f.GetInteger($"{arch}.attention.head_count_kv") ?? heads);
        if (headsKv <= 0 || heads % headsKv != 0)
            throw new GgufFormatException($"{f.Path}: head_count {heads} is not a multiple of head_count_kv {headsKv}");
        int headDim = (int)(f.GetInteger($"{arch}.attention.key_length") ?? embd / heads);
        if (headDim * heads == 0 || (f.GetInteger($"{arch}.attention.key_length") == null && embd % heads != 0))
            throw new GgufFormatException($"{f.Path}: embedding_length {embd} is not divisible by head_count {heads}");

        float freqScale = 1f;
        string? scaling = f.GetString($"{arch}.rope.scaling.type");
        if (scaling == "linear")
        {
            double factor = f.GetNumber($"{arch}.rope.scaling.factor") ?? 1.0;
            if (factor > 0) freqScale = (float)(1.0 / factor);
        }
        else if (scaling is not (null or "none" or "llama3"))
        {
            // yarn and longrope need extra terms in RoPE that this engine does not implement.
            throw new GgufFormatException($"{f.Path}: unsupported RoPE scaling type '{scaling}'");
        }

        int vocab = (int)(f.GetInteger($"{arch}.vocab_size")
            ?? f.GetArray<string>("tokenizer.ggml.tokens")?.Length
            ?? (f.TryGetTensor("token_embd.weight", out var emb) ? emb.Shape[^1] : 0));
        if (vocab <= 0) throw new GgufFormatException($"{f.Path}: cannot tell the vocabulary size");

        return new ModelConfig
        {
            Architecture = kind,
            ArchitectureName = arch,
            EmbeddingLength = embd,
            BlockCount = Req("block_count"),
            FeedForwardLength = Req("feed_forward_length"),
            HeadCount = heads,
            HeadCountKv = headsKv,
            HeadDim = headDim,
            RopeDimensions = (int)(f.GetInteger($"{arch}.rope.dimension_count") ?? headDim),
            RopeFreqBase = (float)(f.GetNumber($"{arch}.rope.freq_base") ?? 10000.0),
            RopeFreqScale = freqScale,
            RmsNormEpsilon = (float)(f.GetNumber($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-5),
            ContextLength = (int)(f.GetInteger($"{arch}.context_length") ?? 2048),
            VocabSize = vocab,
            Name = f.GetString("general.name"),
        };
    }
}
