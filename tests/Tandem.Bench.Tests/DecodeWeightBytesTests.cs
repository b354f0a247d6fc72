using Tandem.Bench;
using Tandem.Engine.Gguf;
using Tandem.Engine.Model;
using Tandem.Engine.Tests;

namespace Tandem.Bench.Tests;

public class DecodeWeightBytesTests
{
    private static DecodeWeightBytes OfPlan(ModelPreset shape, int vocab, GgmlType type) =>
        DecodeWeightBytes.Of(ModelSynthesizer.PlanTensors(shape, vocab, type)
            .Select(t => new GgufTensorInfo(t.Name, t.Shape, t.Type, 0, t.ByteSize)).ToList());

    [Fact]
    public void Tied_embeddings_are_read_in_full_as_the_output_matrix()
    {
        // SmolLM-135M F16 with GPT-2's 50257 tokens: every byte of the file's tensors is read per token, which is the
        // model_size llama-bench reported for this file (docs/performance/2026-12-02-anchor-quiet).
        var f16 = OfPlan(ModelPresets.SmolLM135M, 50257, GgmlType.F16);
        Assert.True(f16.TiedOutput);
        Assert.Equal(0, f16.EmbeddingRead);
        Assert.Equal(270_373_248, f16.Total);

        // Q8_0 by hand: per layer 576x576 (q, o), 576x192 (k, v), 576x1536 (gate, up, down) = 3,538,944 weights at 34 bytes
        // per 32, times 30 layers; two F32 norms per layer and the final one; the 576 x 50257 embedding as the output.
        var q8 = OfPlan(ModelPresets.SmolLM135M, 50257, GgmlType.Q8_0);
        Assert.Equal(30 * (3_538_944L / 32 * 34) + (30 * 2 + 1) * 576 * 4, q8.Layers);
        Assert.Equal(576L * 50257 / 32 * 34, q8.Output);
        Assert.Equal(143_701_668, q8.Total);
    }

    [Fact]
    public void A_separate_output_matrix_is_read_in_full_and_one_embedding_row()
    {
        // TinyLlama-1.1B Q8_0, 32000 tokens: per layer 2048x2048 (q, o), 2048x256 (k, v), 2048x5632 (gate, up, down)
        // = 44,040,192 weights, 22 layers; the 2048 x 32000 output matrix; one 2048-element row of the embedding.
        var q8 = OfPlan(ModelPresets.TinyLlama1B, 32000, GgmlType.Q8_0);
        Assert.False(q8.TiedOutput);
        Assert.Equal(22 * (44_040_192L / 32 * 34) + (22 * 2 + 1) * 2048 * 4, q8.Layers);
        Assert.Equal(2048L * 32000 / 32 * 34, q8.Output);
        Assert.Equal(2048 / 32 * 34, q8.EmbeddingRead);
        Assert.Equal(1_099_442_304, q8.Total);
    }

    [Fact]
    public void A_written_file_gives_what_its_tensor_table_says()
    {
        string vocab = TestPaths.Vocab("ggml-vocab-llama-spm.gguf");
        string path = Path.Combine(TestPaths.NewTempDir(), "tiny.gguf");
        ModelSynthesizer.Synthesize(new SynthesisOptions { Preset = ModelPresets.TinyLlamaGqa, WeightType = GgmlType.F16, VocabFrom = vocab }, path);
        int tokens;
        using (var v = GgufFile.Open(vocab)) tokens = v.GetArray<string>("tokenizer.ggml.tokens")!.Length;

        var bytes = DecodeWeightBytes.Of(path);
        // 2 layers of 256x256 (q, o), 256x64 (k, v), 256x512 (gate, up, down) in F16, F32 norms; 256 x tokens output; one row.
        Assert.Equal(2 * 557_056L * 2 + (2 * 2 + 1) * 256 * 4, bytes.Layers);
        Assert.Equal(256L * tokens * 2, bytes.Output);
        Assert.Equal(256 * 2, bytes.EmbeddingRead);
        Assert.Equal(OfPlan(ModelPresets.TinyLlamaGqa, tokens, GgmlType.F16), bytes);
    }

    [Fact]
    public void A_file_without_an_embedding_is_refused()
    {
        var ex = Assert.Throws<InvalidDataException>(() => DecodeWeightBytes.Of([new GgufTensorInfo("blk.0.attn_q.weight", [32, 32], GgmlType.F32, 0, 4096)]));
        Assert.Contains("token_embd.weight", ex.Message);
    }
}
