using Tandem.Engine.Gguf;
using Tandem.Engine.Kernels;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Model;

/// <summary>All weights of a llama-family model, checked against the configuration's shapes at load.</summary>
public sealed class ModelWeights
{
    /// <summary>token_embd.weight: vocab rows of embd.</summary>
    public required WeightMatrix TokenEmbedding { get; init; }
    /// <summary>output_norm.weight [embd]</summary>
    public required float[] OutputNorm { get; init; }
    /// <summary>output.weight (vocab rows of embd), or the token embedding when the file ties them.</summary>
    public required WeightMatrix Output { get; init; }
    public required LayerWeights[] Layers { get; init; }
    /// <summary>rope_freqs.weight: per-pair frequency divisors (Llama 3.1 style scaling), or null.</summary>
    public float[]? RopeFreqFactors { get; init; }

    public static ModelWeights Load(GgufFile f, ModelConfig c)
    {
        WeightMatrix Matrix(string name, int cols, int rows)
        {
            var t = f.GetTensor(name);
            var m = new WeightMatrix(t);
            if (m.Cols != cols || m.Rows != rows)
                throw new GgufFormatException($"{f.Path}: tensor '{name}' has shape {t.ShapeText}, expected [{cols}, {rows}]");
            return m;
        }

        float[] Vector(string name, int length)
        {
            var t = f.GetTensor(name);
            if (t.ElementCount != length || t.Shape.Length != 1)
                throw new GgufFormatException($"{f.Path}: tensor '{name}' has shape {t.ShapeText}, expected [{length}]");
            var v = new float[length];
            RowKernels.Dequantize(t.Type, t.Bytes, v);
            return v;
        }

        float[]? OptionalVector(string name, int length) => f.TryGetTensor(name, out _) ? Vector(name, length) : null;

        int embd = c.EmbeddingLength, qDim = c.QDim, kvDim = c.KvDim, ffn = c.FeedForwardLength;
        bool biases = c.Architecture == ModelArchitecture.Qwen2;
        var layers = new LayerWeights[c.BlockCount];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"blk.{i}.";
            layers[i] = new LayerWeights
            {
                AttnNorm = Vector(p + "attn_norm.weight", embd),
                Wq = Matrix(p + "attn_q.weight", embd, qDim),
                Wk = Matrix(p + "attn_k.weight", embd, kvDim),
                Wv = Matrix(p + "attn_v.weight", embd, kvDim),
                Wo = Matrix(p + "attn_output.weight", qDim, embd),
                Bq = biases ? Vector(p + "attn_q.bias", qDim) : OptionalVector(p + "attn_q.bias", qDim),
                Bk = biases ? Vector(p + "attn_k.bias", kvDim) : OptionalVector(p + "attn_k.bias", kvDim),
                Bv = biases ? Vector(p + "attn_v.bias", kvDim) : OptionalVector(p + "attn_v.bias", kvDim),
                FfnNorm = Vector(p + "ffn_norm.weight", embd),
                Gate = Matrix(p + "ffn_gate.weight", embd, ffn),
                Up = Matrix(p + "ffn_up.weight", embd, ffn),
                Down = Matrix(p + "ffn_down.weight", ffn, embd),
            };
        }

        var tokenEmbedding = Matrix("token_embd.weight", embd, c.VocabSize);
        var output = f.TryGetTensor("output.weight", out _) ? Matrix("output.weight", embd, c.VocabSize) : tokenEmbedding;
        return new ModelWeights
        {
            TokenEmbedding = tokenEmbedding,
            OutputNorm = Vector("output_norm.weight", embd),
            Output = output,
            Layers = layers,
            RopeFreqFactors = OptionalVector("rope_freqs.weight", c.RopeDimensions / 2),
        };
    }
}
