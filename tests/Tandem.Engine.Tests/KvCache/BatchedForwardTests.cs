using Tandem.Engine.Kernels;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Engine.Tests.Agreement;
using Tandem.Engine.Tests.Oracle;
using Tandem.Engine.Tokenization;

namespace Tandem.Engine.Tests.KvCache;

/// <summary>
/// Batching must not change results. Every row of every matmul is computed by the same dot product
/// whatever else is in the batch, and attention reads each sequence only through its own block table,
/// so the tolerance is exact equality: logits are bit-identical batched, chunked or alone.
/// </summary>
public class BatchedForwardTests
{
    public static TheoryData<string, KvElementType> Models => new()
    {
        { "stories260K.gguf", KvElementType.F32 },
        { "stories260K.gguf", KvElementType.F16 },
        { "tinyllama-v0-q4_0.gguf", KvElementType.F32 },
        { "synth:tiny-qwen2:q8_0", KvElementType.F32 },
        { "synth:tiny-llama-gqa:q4_k", KvElementType.F16 },
    };

    internal static string Resolve(string name)
    {
        if (!name.StartsWith("synth:", StringComparison.Ordinal)) return TestPaths.Model(name);
        var parts = name.Split(':');
        Assert.True(Tandem.Engine.Gguf.GgmlTypeInfo.TryParse(parts[2], out var t));
        return SynthesizedModels.Get(parts[1], t);
    }

    private static int[] Tokens(int seed, int count, int vocab)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => rng.Next(3, vocab)).Prepend(1).ToArray();
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void MixedBatchMatchesEachSequenceAlone(string file, KvElementType kv)
    {
        using var model = LanguageModel.Load(Resolve(file));
        int vocab = model.Config.VocabSize;
        using var tr = new Transformer(model, threads: 2, maxBatch: 128, maxContext: 128);
        var pool = new KvBlockPool(model.Config, blockCount: 64, blockSize: 16, kv);

        // Three sequences: A and B already hold context (decode steps), C arrives with a prompt.
        int[] a = Tokens(1, 20, vocab), b = Tokens(2, 33, vocab), c = Tokens(3, 25, vocab);
        using var sa = pool.CreateSequence();
        using var sb = pool.CreateSequence();
        using var sc = pool.CreateSequence();
        var scratch = new float[vocab];
        tr.Forward(a, sa, scratch);
        tr.Forward(b, sb, scratch);

        var batch = new ForwardBatch();
        batch.Add(sa, [7], wantLogits: true);
        batch.Add(sc, c, wantLogits: true);
        batch.Add(sb, [9], wantLogits: true);
        var batched = new float[3 * vocab];
        tr.Forward(batch, batched);

        // Each alone, in a fresh pool.
        float[] Alone(int[] context, int[] step)
        {
            var p = new KvBlockPool(model.Config, 16, 16, kv);
            using var s = p.CreateSequence();
            var l = new float[vocab];
            if (context.Length > 0) tr.Forward(context, s, l);
            tr.Forward(step, s, l);
            return l;
        }
        Assert.Equal(Alone(a, [7]), batched.AsSpan(0, vocab).ToArray());
        Assert.Equal(Alone([], c), batched.AsSpan(vocab, vocab).ToArray());
        Assert.Equal(Alone(b, [9]), batched.AsSpan(2 * vocab, vocab).ToArray());
        Assert.Equal(a.Length + 1, sa.Length);
        Assert.Equal(c.Length, sc.Length);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void ChunkedPrefillEqualsOnePass(string file, KvElementType kv)
    {
        using var model = LanguageModel.Load(Resolve(file));
        int vocab = model.Config.VocabSize;
        int[] prompt = Tokens(5, 70, vocab);
        var whole = new float[vocab];
        using (var tr = new Transformer(model, 2, maxBatch: 128, maxContext: 128))
        using (var s = tr.CreateCache(128, kv))
            tr.Forward(prompt, s, whole);

        foreach (int chunk in new[] { 1, 3, 16, 17, 50 })
        {
            using var tr = new Transformer(model, 2, maxBatch: chunk, maxContext: 128); // Forward splits into chunks of maxBatch
            using var s = tr.CreateCache(128, kv);
            var chunked = new float[vocab];
            tr.Forward(prompt, s, chunked);
            Assert.Equal(whole, chunked);
        }
    }

    /// <summary>Models whose matmuls run on the tiled kernels (Q4_0, Q8_0, Q5_0 from the Q4_K fallback, Q4_K, F16), on every path this machine has.</summary>
    public static TheoryData<string, MatMulKernelPath> KernelPathCases()
    {
        var data = new TheoryData<string, MatMulKernelPath>();
        MatMulKernelPath[] paths = [MatMulKernelPath.Avx512, MatMulKernelPath.Avx2Vnni, MatMulKernelPath.Avx2, MatMulKernelPath.Portable];
        foreach (var path in paths.Where(LegacyTiledMatMul.IsSupported))
            foreach (string file in new[] { "tinyllama-v0-q4_0.gguf", "synth:tiny-qwen2:q8_0", "synth:tiny-qwen2:q4_k", "synth:tiny-llama-gqa:q4_k", "synth:tiny-llama-gqa:f16" })
                data.Add(file, path);
        return data;
    }

    /// <summary>
    /// On every kernel path a sequence's logits are bitwise the same whether its prompt is prefilled whole, in
    /// chunks (kernel tiles cut at different tokens), token by token, or batched with other sequences' decode
    /// steps; and the SIMD paths agree with each other (all follow the same single-pair dot).
    /// </summary>
    [Theory]
    [MemberData(nameof(KernelPathCases))]
    public void Every_kernel_path_is_batch_invariant(string file, MatMulKernelPath path)
    {
        using var model = LanguageModel.Load(Resolve(file));
        int vocab = model.Config.VocabSize;
        int[] prompt = Tokens(11, 29, vocab);
        float[] Prefill(int maxBatch, MatMulKernelPath p)
        {
            using var tr = new Transformer(model, 2, maxBatch: maxBatch, maxContext: 64, kernelPath: p);
            using var s = tr.CreateCache(64, KvElementType.F32);
            var logits = new float[vocab];
            tr.Forward(prompt, s, logits);
            return logits;
        }
        float[] whole = Prefill(64, path);
        foreach (int chunk in new[] { 1, 3, 9 })
            Assert.Equal(whole, Prefill(chunk, path));
        if (path != MatMulKernelPath.Portable)
            Assert.Equal(Prefill(64, MatMulKernelPath.Avx2), whole);

        // The same prompt in one batch with two other sequences' decode steps, on each side of it.
        using var batched = new Transformer(model, 2, maxBatch: 64, maxContext: 64, kernelPath: path);
        var pool = new KvBlockPool(model.Config, blockCount: 16, blockSize: 16, KvElementType.F32);
        using var sa = pool.CreateSequence();
        using var sb = pool.CreateSequence();
        using var sc = pool.CreateSequence();
        var scratch = new float[vocab];
        batched.Forward(Tokens(12, 6, vocab), sa, scratch);
        batched.Forward(Tokens(13, 5, vocab), sb, scratch);
        var batch = new ForwardBatch();
        batch.Add(sa, [7], wantLogits: true);
        batch.Add(sc, prompt, wantLogits: true);
        batch.Add(sb, [9], wantLogits: true);
        var logits = new float[3 * vocab];
        batched.Forward(batch, logits);
        Assert.Equal(whole, logits.AsSpan(vocab, vocab).ToArray());
    }

    [Theory]
    [InlineData("stories260K.gguf")]
    [InlineData("tinyllama-v0-q4_0.gguf")]
    public void GreedyThroughBatchedDecodeMatchesLlamaCpp(string file)
    {
        string path = TestPaths.Model(file);
        using var oracle = new LlamaCppOracle(path);
        using var model = LanguageModel.Load(path);
        var tok = Tokenizer.FromGguf(model.File);
        string[] prompts = ["Once upon a time", "Lily and Ben went to the park", "The cat"];
        const int steps = 64;
        var ids = prompts.Select(p => tok.Encode(p, addBos: true)).ToArray();
        var expected = ids.Select(p => oracle.GreedyContinuation(p, steps)).ToArray();

        int vocab = model.Config.VocabSize;
        using var tr = new Transformer(model, 2, maxBatch: 64, maxContext: 128);
        var pool = new KvBlockPool(model.Config, 64, 16);
        var seqs = ids.Select(_ => pool.CreateSequence()).ToArray();
        var got = ids.Select(_ => new List<int>()).ToArray();
        var batch = new ForwardBatch();
        var logits = new float[ids.Length * vocab];

        // Step 0 prefills every prompt in one batch; then all sequences decode together.
        batch.Clear();
        for (int i = 0; i < ids.Length; i++) batch.Add(seqs[i], ids[i], wantLogits: true);
        for (int step = 0; step < steps; step++)
        {
            tr.Forward(batch, logits);
            batch.Clear();
            for (int i = 0; i < ids.Length; i++)
            {
                int next = LlamaCppOracle.ArgMax(logits.AsSpan(i * vocab, vocab));
                got[i].Add(next);
                batch.Add(seqs[i], [next], wantLogits: true);
            }
        }
        for (int i = 0; i < ids.Length; i++) Assert.Equal(expected[i], got[i]);
        foreach (var s in seqs) s.Dispose();
        Assert.Equal(0, pool.UsedBlocks);
    }
}
