using System.Runtime.InteropServices;
using Tandem.Engine.Gguf;
using Tandem.Engine.Model;

namespace Tandem.Engine.Tests.Model;

public sealed class ModelSynthesizerTests
{
    private static string Stories => TestPaths.Model("stories260K.gguf");

    /// <summary>Parameter counts of the real checkpoints (published on their model cards / reported by llama.cpp).</summary>
    [Theory]
    [InlineData("smollm-135m", 49152, 134_515_008L)]
    [InlineData("tinyllama-1.1b", 32000, 1_100_048_384L)]
    [InlineData("qwen2-0.5b", 151936, 494_032_768L)]
    public void Presets_have_the_parameter_count_of_the_real_model(string preset, int vocab, long parameters)
    {
        var tensors = ModelSynthesizer.PlanTensors(ModelPresets.Get(preset), vocab, GgmlType.F16);
        Assert.Equal(parameters, tensors.Sum(t => t.ElementCount));
    }

    [Fact]
    public void Llama_tensor_names_shapes_and_types_are_those_of_llama_cpp()
    {
        var p = ModelPresets.TinyLlama1B with { BlockCount = 1 };
        var tensors = ModelSynthesizer.PlanTensors(p, 32000, GgmlType.Q8_0).ToDictionary(t => t.Name);
        Assert.Equal(
            ["token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight",
             "blk.0.attn_output.weight", "blk.0.ffn_norm.weight", "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight",
             "blk.0.ffn_down.weight", "output_norm.weight", "output.weight"],
            tensors.Keys);
        Assert.Equal([2048L, 32000], tensors["token_embd.weight"].Shape);
        Assert.Equal([2048L, 2048], tensors["blk.0.attn_q.weight"].Shape);
        Assert.Equal([2048L, 256], tensors["blk.0.attn_k.weight"].Shape);
        Assert.Equal([2048L, 5632], tensors["blk.0.ffn_gate.weight"].Shape);
        Assert.Equal([5632L, 2048], tensors["blk.0.ffn_down.weight"].Shape);
        Assert.Equal([2048L, 32000], tensors["output.weight"].Shape);
        foreach (var t in tensors.Values)
            Assert.Equal(t.Shape.Length == 1 ? GgmlType.F32 : GgmlType.Q8_0, t.Type);
    }

    [Fact]
    public void Qwen2_has_qkv_biases_in_f32_and_a_tied_output()
    {
        var tensors = ModelSynthesizer.PlanTensors(ModelPresets.Qwen2_05B, 151936, GgmlType.Q4_0).ToDictionary(t => t.Name);
        Assert.False(tensors.ContainsKey("output.weight"));
        Assert.Equal([896L], tensors["blk.23.attn_q.bias"].Shape);
        Assert.Equal([128L], tensors["blk.23.attn_k.bias"].Shape);
        Assert.Equal([128L], tensors["blk.23.attn_v.bias"].Shape);
        Assert.Equal(GgmlType.F32, tensors["blk.23.attn_v.bias"].Type);
        Assert.Equal(GgmlType.Q4_0, tensors["blk.23.attn_v.weight"].Type);
    }

    [Theory]
    [InlineData(576, GgmlType.Q4_K, GgmlType.Q5_0)]
    [InlineData(576, GgmlType.Q5_K, GgmlType.Q5_1)]
    [InlineData(576, GgmlType.Q6_K, GgmlType.Q8_0)]
    [InlineData(896, GgmlType.Q4_K, GgmlType.Q5_0)]
    [InlineData(1536, GgmlType.Q4_K, GgmlType.Q4_K)]
    [InlineData(48, GgmlType.Q4_K, GgmlType.F16)]   // not even 32-blocks fit: llama-quantize's "must use F16"
    [InlineData(100, GgmlType.Q8_0, GgmlType.F16)]
    [InlineData(100, GgmlType.BF16, GgmlType.BF16)]
    public void Rows_that_do_not_fit_fall_back_as_llama_quantize_does(long rowLength, GgmlType requested, GgmlType stored) =>
        Assert.Equal(stored, ModelSynthesizer.StoredType(rowLength, requested));

    [Fact]
    public void SmolLM_with_k_quants_falls_back_on_the_576_wide_rows_only()
    {
        var tensors = ModelSynthesizer.PlanTensors(ModelPresets.SmolLM135M with { BlockCount = 1 }, 49152, GgmlType.Q4_K);
        var fell = tensors.Where(t => t.FellBack).Select(t => t.Name).ToList();
        Assert.Equal(["token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight",
                      "blk.0.attn_output.weight", "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight"], fell);
        Assert.All(tensors.Where(t => t.FellBack), t => Assert.Equal(GgmlType.Q5_0, t.Type));
        Assert.Equal(GgmlType.Q4_K, tensors.Single(t => t.Name == "blk.0.ffn_down.weight").Type);
    }

    [Fact]
    public void Synthesized_f32_model_has_llama_cpp_metadata_and_the_borrowed_vocabulary()
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "tiny.gguf");
        var result = ModelSynthesizer.Synthesize(new SynthesisOptions
        {
            Preset = ModelPresets.TinyQwen2, WeightType = GgmlType.F32, VocabFrom = Stories, Seed = 7, BlockCount = 3, ContextLength = 333,
        }, path);

        using var f = GgufFile.Open(path);
        using var vocab = GgufFile.Open(Stories);
        Assert.Equal(result.FileSize, f.FileSize);
        Assert.Equal("qwen2", f.GetString("general.architecture"));
        Assert.Equal(0L, f.GetInteger("general.file_type"));
        Assert.Equal(32L, f.GetInteger("general.alignment"));
        Assert.Equal(2L, f.GetInteger("general.quantization_version"));
        Assert.Equal(1e6, f.GetNumber("qwen2.rope.freq_base"));

        var tokenizerKeys = vocab.MetadataKeys.Where(k => k.StartsWith("tokenizer.")).ToList();
        Assert.NotEmpty(tokenizerKeys);
        Assert.Equal(tokenizerKeys, f.MetadataKeys.Where(k => k.StartsWith("tokenizer.")));
        foreach (string k in tokenizerKeys)
        {
            Assert.Equal(vocab.Metadata[k].Type, f.Metadata[k].Type);
            Assert.Equal(vocab.Metadata[k].ElementType, f.Metadata[k].ElementType);
            if (vocab.Metadata[k].Value is Array a) Assert.Equal(a.Cast<object>(), ((Array)f.Metadata[k].Value).Cast<object>());
            else Assert.Equal(vocab.Metadata[k].Value, f.Metadata[k].Value);
        }

        var c = ModelConfig.FromGguf(f);
        Assert.Equal(ModelArchitecture.Qwen2, c.Architecture);
        Assert.Equal((128, 3, 384, 4, 2, 32, 333, 512), (c.EmbeddingLength, c.BlockCount, c.FeedForwardLength, c.HeadCount, c.HeadCountKv, c.HeadDim, c.ContextLength, c.VocabSize));
        Assert.Equal(1e-6f, c.RmsNormEpsilon);
        Assert.Equal(result.Tensors.Select(t => t.Name), f.Tensors.Select(t => t.Name));
        Assert.Equal(result.ParameterCount, f.Tensors.Sum(t => t.ElementCount));
        Assert.Empty(result.Fallbacks);
    }

    [Fact]
    public void Weights_are_small_and_centred_norms_near_one_and_the_seed_decides_the_bytes()
    {
        string dir = TestPaths.NewTempDir();
        SynthesisOptions Options(ulong seed) => new() { Preset = ModelPresets.TinyLlamaGqa, WeightType = GgmlType.F32, VocabFrom = Stories, Seed = seed };
        ModelSynthesizer.Synthesize(Options(1), Path.Combine(dir, "a.gguf"));
        ModelSynthesizer.Synthesize(Options(1), Path.Combine(dir, "b.gguf"));
        ModelSynthesizer.Synthesize(Options(2), Path.Combine(dir, "c.gguf"));
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "a.gguf")), File.ReadAllBytes(Path.Combine(dir, "b.gguf")));

        using var a = GgufFile.Open(Path.Combine(dir, "a.gguf"));
        using var c = GgufFile.Open(Path.Combine(dir, "c.gguf"));
        Assert.NotEqual(a.GetTensor("blk.0.attn_q.weight").Bytes.ToArray(), c.GetTensor("blk.0.attn_q.weight").Bytes.ToArray());

        foreach (var t in a.Tensors)
        {
            var v = MemoryMarshal.Cast<byte, float>(t.Bytes);
            double mean = 0, sq = 0;
            foreach (float x in v) { mean += x; sq += (double)x * x; }
            mean /= v.Length;
            double std = Math.Sqrt(sq / v.Length - mean * mean);
            if (t.Name.EndsWith("_norm.weight"))
            {
                Assert.InRange(mean, 0.99, 1.01);
                Assert.InRange(std, 0.005, 0.02);
            }
            else
            {
                Assert.InRange(mean, -0.002, 0.002);
                Assert.InRange(std, 0.018, 0.022);
                Assert.All(v.ToArray(), x => Assert.InRange(x, -0.08f, 0.08f));
            }
        }
        // Distinct tensors get distinct streams.
        Assert.NotEqual(a.GetTensor("blk.0.ffn_gate.weight").Bytes.ToArray(), a.GetTensor("blk.0.ffn_up.weight").Bytes.ToArray());
    }

    [Fact]
    public void A_vocabulary_source_without_tokens_is_an_error_and_nothing_is_written()
    {
        string dir = TestPaths.NewTempDir();
        string noVocab = Path.Combine(dir, "novocab.gguf");
        var w = new GgufWriter();
        w.SetMetadata("general.architecture", GgufMetadataValue.Of("llama"));
        w.Write(noVocab);

        string output = Path.Combine(dir, "out.gguf");
        var e = Assert.Throws<GgufFormatException>(() => ModelSynthesizer.Synthesize(
            new SynthesisOptions { Preset = ModelPresets.TinyLlamaGqa, WeightType = GgmlType.F32, VocabFrom = noVocab }, output));
        Assert.Contains(noVocab, e.Message);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Types_outside_the_supported_set_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => ModelSynthesizer.PlanTensors(ModelPresets.TinyQwen2, 512, GgmlType.Q2_K));
        Assert.Throws<ArgumentException>(() => ModelSynthesizer.PlanTensors(ModelPresets.TinyQwen2, 512, GgmlType.Q8_K));
    }
}
