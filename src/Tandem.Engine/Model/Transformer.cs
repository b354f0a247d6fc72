using System.Numerics.Tensors;
using Tandem.Engine.Kernels;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Model;

/// <summary>
/// The forward pass of a llama-family model over a chunk of tokens of one sequence. Owns the thread team
/// and every activation buffer (allocated once, sized for <see cref="MaxBatch"/> tokens), so running it
/// allocates nothing. One Transformer serves one caller at a time; several may share a <see cref="LanguageModel"/>.
/// </summary>
public sealed class Transformer : IDisposable
{
    private readonly LanguageModel _model;
    private readonly ModelConfig _c;
    private readonly ModelWeights _w;
    private readonly ThreadTeam _team;
    private readonly MatMul _matmul;
    private readonly AttentionJob _attention;
    private readonly Rope _rope;

    // Activations, row-major [token × width].
    private readonly float[] _x;      // residual stream, n × embd
    private readonly float[] _xb;     // normed input to a matmul, n × embd
    private readonly float[] _xb2;    // matmul output back to embd, n × embd
    private readonly float[] _q;      // n × qDim
    private readonly float[] _k;      // n × kvDim
    private readonly float[] _v;      // n × kvDim
    private readonly float[] _att;    // attention output, n × qDim
    private readonly float[] _gate;   // n × ffn
    private readonly float[] _up;     // n × ffn
    private readonly float[] _cos;    // n × rotDims/2
    private readonly float[] _sin;

    public int MaxBatch { get; }
    public int Threads => _team.Size;
    public ModelConfig Config => _c;

    /// <param name="threads">Threads computing each step, including the caller.</param>
    /// <param name="maxBatch">Most tokens per forward call; longer prompts are processed in chunks.</param>
    /// <param name="maxContext">Longest sequence any cache used with this transformer holds.</param>
    public Transformer(LanguageModel model, int threads, int maxBatch = 512, int maxContext = 4096)
    {
        _model = model;
        _c = model.Config;
        _w = model.Weights;
        MaxBatch = maxBatch;
        _team = new ThreadTeam(threads);
        int maxCols = Math.Max(Math.Max(_c.EmbeddingLength, _c.QDim), _c.FeedForwardLength);
        _matmul = new MatMul(_team, maxBatch, maxCols);
        _attention = new AttentionJob(_c, threads, maxContext);
        _rope = new Rope(_c.RopeDimensions, _c.RopeFreqBase, _c.RopeFreqScale,
            neox: _c.Architecture == ModelArchitecture.Qwen2, _w.RopeFreqFactors);

        int n = maxBatch;
        _x = new float[n * _c.EmbeddingLength];
        _xb = new float[n * _c.EmbeddingLength];
        _xb2 = new float[n * _c.EmbeddingLength];
        _q = new float[n * _c.QDim];
        _k = new float[n * _c.KvDim];
        _v = new float[n * _c.KvDim];
        _att = new float[n * _c.QDim];
        _gate = new float[n * _c.FeedForwardLength];
        _up = new float[n * _c.FeedForwardLength];
        _cos = new float[n * _c.RopeDimensions / 2];
        _sin = new float[n * _c.RopeDimensions / 2];
        MaxContext = maxContext;
    }

    public int MaxContext { get; }

    public KvCache CreateCache(int capacity) =>
        capacity > MaxContext
            ? throw new ArgumentOutOfRangeException(nameof(capacity), capacity, $"at most {MaxContext} positions")
            : new KvCache(_c, capacity);

    /// <summary>
    /// Appends <paramref name="tokens"/> to the sequence in <paramref name="cache"/> and writes the logits of
    /// the last token into <paramref name="logits"/> (vocab floats), or of every token
    /// (tokens.Length × vocab) when <paramref name="allLogits"/> is set.
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, KvCache cache, Span<float> logits, bool allLogits = false)
    {
        int vocab = _c.VocabSize;
        if (tokens.IsEmpty) throw new ArgumentException("no tokens to process", nameof(tokens));
        if (cache.Length + tokens.Length > cache.Capacity)
            throw new ContextOverflowException(cache.Length + tokens.Length, cache.Capacity);
        if (logits.Length < (allLogits ? tokens.Length : 1) * vocab)
            throw new ArgumentException("logits buffer too small", nameof(logits));
        foreach (int t in tokens)
            if ((uint)t >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(tokens), t, $"token id outside the vocabulary (0..{vocab - 1})");

        for (int done = 0; done < tokens.Length; done += MaxBatch)
        {
            int n = Math.Min(MaxBatch, tokens.Length - done);
            bool last = done + n == tokens.Length;
            var chunkLogits = allLogits ? logits.Slice(done * vocab, n * vocab) : last ? logits[..vocab] : default;
            ForwardChunk(tokens.Slice(done, n), cache, chunkLogits, allLogits, last || allLogits);
        }
    }

    private void ForwardChunk(ReadOnlySpan<int> tokens, KvCache cache, Span<float> logits, bool allLogits, bool wantLogits)
    {
        int n = tokens.Length, embd = _c.EmbeddingLength, qDim = _c.QDim, kvDim = _c.KvDim, ffn = _c.FeedForwardLength;
        int start = cache.Length, half = _c.RopeDimensions / 2;

        // Token embeddings, decoded from the stored type.
        for (int t = 0; t < n; t++)
            RowKernels.Dequantize(_w.TokenEmbedding.Type, _w.TokenEmbedding.Row(tokens[t]), _x.AsSpan(t * embd, embd));

        // RoPE angles depend only on position: once per chunk, shared by all layers.
        for (int t = 0; t < n; t++)
            _rope.Angles(start + t, _cos.AsSpan(t * half, half), _sin.AsSpan(t * half, half));

        for (int l = 0; l < _c.BlockCount; l++)
        {
            var L = _w.Layers[l];

            // Attention: rmsnorm, Q/K/V projections (+ biases), RoPE, cache append, attention, output projection.
            for (int t = 0; t < n; t++)
                RmsNorm.Apply(_x.AsSpan(t * embd, embd), L.AttnNorm, _xb.AsSpan(t * embd, embd), _c.RmsNormEpsilon);
            _matmul.Run(L.Wq, _xb, _q, n);
            _matmul.Run(L.Wk, _xb, _k, n);
            _matmul.Run(L.Wv, _xb, _v, n);
            AddBias(_q, L.Bq, n, qDim);
            AddBias(_k, L.Bk, n, kvDim);
            AddBias(_v, L.Bv, n, kvDim);

            var keys = cache.Keys[l];
            var values = cache.Values[l];
            for (int t = 0; t < n; t++)
            {
                var cos = _cos.AsSpan(t * half, half);
                var sin = _sin.AsSpan(t * half, half);
                _rope.Apply(_q.AsSpan(t * qDim, qDim), _c.HeadDim, cos, sin);
                _rope.Apply(_k.AsSpan(t * kvDim, kvDim), _c.HeadDim, cos, sin);
            }
            _k.AsSpan(0, n * kvDim).CopyTo(keys.AsSpan(start * kvDim));
            _v.AsSpan(0, n * kvDim).CopyTo(values.AsSpan(start * kvDim));

            _attention.Set(_q, _att, keys, values, start);
            _team.Run(_attention, n * _c.HeadCount, 1);
            _matmul.Run(L.Wo, _att, _xb2, n);
            TensorPrimitives.Add(_x.AsSpan(0, n * embd), _xb2.AsSpan(0, n * embd), _x.AsSpan(0, n * embd));

            // Feed-forward: rmsnorm, SwiGLU, down projection, residual.
            for (int t = 0; t < n; t++)
                RmsNorm.Apply(_x.AsSpan(t * embd, embd), L.FfnNorm, _xb.AsSpan(t * embd, embd), _c.RmsNormEpsilon);
            _matmul.Run(L.Gate, _xb, _gate, n);
            _matmul.Run(L.Up, _xb, _up, n);
            Activations.SwiGlu(_gate.AsSpan(0, n * ffn), _up.AsSpan(0, n * ffn));
            _matmul.Run(L.Down, _gate, _xb2, n);
            TensorPrimitives.Add(_x.AsSpan(0, n * embd), _xb2.AsSpan(0, n * embd), _x.AsSpan(0, n * embd));
        }
        cache.Length = start + n;

        if (!wantLogits) return;
        // Final norm and the output projection, only for the rows whose logits are wanted.
        int first = allLogits ? 0 : n - 1, rows = n - first;
        for (int t = first; t < n; t++)
            RmsNorm.Apply(_x.AsSpan(t * embd, embd), _w.OutputNorm, _xb.AsSpan((t - first) * embd, embd), _c.RmsNormEpsilon);
        _matmul.Run(_w.Output, _xb, logits, rows);
    }

    private static void AddBias(float[] x, float[]? bias, int n, int width)
    {
        if (bias == null) return;
        for (int t = 0; t < n; t++)
            TensorPrimitives.Add(x.AsSpan(t * width, width), bias, x.AsSpan(t * width, width));
    }

    public void Dispose() => _team.Dispose();
}
