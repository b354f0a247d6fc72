using System.Numerics.Tensors;
using Tandem.Engine.Kernels;
using Tandem.Engine.KvCache;
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
    /// <param name="onWorkerStart">Passed to the <see cref="ThreadTeam"/>: runs first on each worker thread (core pinning).</param>
    /// <param name="batchInvariant">
    /// True (the default for serving): a sequence's logits are bit-identical whatever it is batched with.
    /// False: F32/F16 sums follow llama.cpp's batch-size-dependent order exactly (see <see cref="MatMul"/>).
    /// </param>
    /// <param name="kernelPath">Instruction set of the quantised matmul kernels (default: the widest here); see <see cref="MatMulKernelPath"/>.</param>
    public Transformer(LanguageModel model, int threads, int maxBatch = 512, int maxContext = 4096, Action<int>? onWorkerStart = null,
        bool batchInvariant = true, MatMulKernelPath kernelPath = MatMulKernelPath.Auto)
    {
        _model = model;
        _c = model.Config;
        _w = model.Weights;
        MaxBatch = maxBatch;
        _team = new ThreadTeam(threads, onWorkerStart);
        int maxCols = Math.Max(Math.Max(_c.EmbeddingLength, _c.QDim), _c.FeedForwardLength);
        _matmul = new MatMul(_team, maxBatch, maxCols, batchInvariant, kernelPath);
        _attention = new AttentionJob(_c, threads, maxContext, batchInvariant);
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
        _logitRows = new int[maxBatch];
    }

    public int MaxContext { get; }

    /// <summary>A sequence on a pool of its own holding <paramref name="capacity"/> tokens (F32 KV): the simple single-sequence path.</summary>
    public KvSequence CreateCache(int capacity, KvElementType type = KvElementType.F32)
    {
        if (capacity > MaxContext)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, $"at most {MaxContext} positions");
        const int blockSize = 16;
        return new KvBlockPool(_c, (capacity + blockSize - 1) / blockSize, blockSize, type).CreateSequence();
    }

    /// <summary>Tokens of <see cref="WarmUp"/>'s prompt: a full eight-token tile of the tiled kernels and a remainder.</summary>
    private const int WarmUpTokens = 9;

    /// <summary>
    /// A short prefill and one decode step on a throwaway sequence, as llama.cpp runs before its first request
    /// (llama-cli's and llama-server's warm-up): the first real request then finds the forward pass compiled by the
    /// JIT and the weights' pages read in, instead of paying for both inside its own prefill. Costs the JIT's work
    /// (due anyway) and a few tokens' compute; allocates a small cache and one row of logits.
    /// </summary>
    public void WarmUp(KvElementType kvType = KvElementType.F32)
    {
        int prompt = Math.Min(WarmUpTokens, Math.Min(MaxBatch, MaxContext - 1));
        if (prompt < 1) return;
        var tokens = new int[prompt];
        for (int i = 0; i < prompt; i++) tokens[i] = i % _c.VocabSize;
        var logits = new float[_c.VocabSize];
        using var sequence = CreateCache(prompt + 1, kvType);
        Forward(tokens, sequence, logits);
        Forward(tokens.AsSpan(0, 1), sequence, logits);
    }

    /// <summary>
    /// Appends <paramref name="tokens"/> to <paramref name="sequence"/> (in chunks of at most MaxBatch) and
    /// writes the logits of the last token into <paramref name="logits"/> (vocab floats), or of every token
    /// (tokens.Length × vocab) when <paramref name="allLogits"/> is set.
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, KvSequence sequence, Span<float> logits, bool allLogits = false)
    {
        int vocab = _c.VocabSize;
        if (tokens.IsEmpty) throw new ArgumentException("no tokens to process", nameof(tokens));
        if (logits.Length < (allLogits ? tokens.Length : 1) * vocab)
            throw new ArgumentException("logits buffer too small", nameof(logits));
        for (int done = 0; done < tokens.Length; done += MaxBatch)
        {
            int n = Math.Min(MaxBatch, tokens.Length - done);
            bool last = done + n == tokens.Length;
            _single.Clear();
            _single.Add(sequence, tokens.Slice(done, n), wantLogits: last || allLogits);
            var rows = allLogits ? logits.Slice(done * vocab, n * vocab) : last ? logits[..vocab] : default;
            ForwardCore(_single, rows, allTokenLogits: allLogits);
        }
    }

    /// <summary>
    /// One step over a flattened batch of sequences. Reserves KV blocks for the new tokens (throws
    /// <see cref="KvPoolExhaustedException"/> when the pool is short: schedulers reserve first) and writes one
    /// row of logits per entry that asked for them, in entry order.
    /// </summary>
    public void Forward(ForwardBatch batch, Span<float> logits)
    {
        if (batch.TokenCount == 0) throw new ArgumentException("empty batch", nameof(batch));
        if (batch.TokenCount > MaxBatch)
            throw new ArgumentException($"batch of {batch.TokenCount} tokens exceeds the maximum of {MaxBatch}", nameof(batch));
        if (logits.Length < batch.LogitRows * _c.VocabSize) throw new ArgumentException("logits buffer too small", nameof(logits));
        ForwardCore(batch, logits, allTokenLogits: false);
    }

    private readonly ForwardBatch _single = new();
    private readonly int[] _logitRows;

    private void ForwardCore(ForwardBatch batch, Span<float> logits, bool allTokenLogits)
    {
        int n = batch.TokenCount, embd = _c.EmbeddingLength, qDim = _c.QDim, kvDim = _c.KvDim, ffn = _c.FeedForwardLength;
        int half = _c.RopeDimensions / 2, vocab = _c.VocabSize;
        var tokens = batch.Tokens;
        var positions = batch.Positions;
        foreach (int t in tokens)
            if ((uint)t >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(batch), t, $"token id outside the vocabulary (0..{vocab - 1})");

        // Room for the new tokens in every sequence, checked before anything changes.
        KvBlockPool? pool = null;
        for (int e = 0; e < batch.EntryCount; e++)
        {
            var seq = batch.Sequence(e);
            pool ??= seq.Pool;
            if (seq.Pool != pool) throw new ArgumentException("all sequences of a batch must share one KV pool", nameof(batch));
            if (seq.Length + batch.EntryLength(e) > MaxContext)
                throw new ContextOverflowException(seq.Length + batch.EntryLength(e), MaxContext);
        }
        for (int e = 0; e < batch.EntryCount; e++)
        {
            var seq = batch.Sequence(e);
            if (!seq.TryReserve(batch.EntryLength(e)))
                throw new KvPoolExhaustedException(pool!.BlocksFor(seq.Length + batch.EntryLength(e)) - seq.BlockCount, pool.FreeBlocks);
        }

        // Token embeddings, decoded from the stored type.
        for (int t = 0; t < n; t++)
            RowKernels.Dequantize(_w.TokenEmbedding.Type, _w.TokenEmbedding.Row(tokens[t]), _x.AsSpan(t * embd, embd));

        // RoPE angles depend only on position: once per step, shared by all layers.
        for (int t = 0; t < n; t++)
            _rope.Angles(positions[t], _cos.AsSpan(t * half, half), _sin.AsSpan(t * half, half));

        for (int l = 0; l < _c.BlockCount; l++)
        {
            var L = _w.Layers[l];

            // Attention: rmsnorm, Q/K/V projections (+ biases), RoPE, KV append, attention, output projection.
            for (int t = 0; t < n; t++)
                RmsNorm.Apply(_x.AsSpan(t * embd, embd), L.AttnNorm, _xb.AsSpan(t * embd, embd), _c.RmsNormEpsilon);
            _matmul.Run(L.Wq, _xb, _q, n);
            _matmul.Run(L.Wk, _xb, _k, n, sameInput: true);
            _matmul.Run(L.Wv, _xb, _v, n, sameInput: true);
            AddBias(_q, L.Bq, n, qDim);
            AddBias(_k, L.Bk, n, kvDim);
            AddBias(_v, L.Bv, n, kvDim);

            for (int t = 0; t < n; t++)
            {
                var cos = _cos.AsSpan(t * half, half);
                var sin = _sin.AsSpan(t * half, half);
                _rope.Apply(_q.AsSpan(t * qDim, qDim), _c.HeadDim, cos, sin);
                _rope.Apply(_k.AsSpan(t * kvDim, kvDim), _c.HeadDim, cos, sin);
            }
            StoreKv(batch, pool!, l);

            _attention.Set(_q, _att, batch, pool!, l);
            _team.Run(_attention, _attention.ItemCount, 1);
            _matmul.Run(L.Wo, _att, _xb2, n);
            TensorPrimitives.Add(_x.AsSpan(0, n * embd), _xb2.AsSpan(0, n * embd), _x.AsSpan(0, n * embd));

            // Feed-forward: rmsnorm, SwiGLU, down projection, residual.
            for (int t = 0; t < n; t++)
                RmsNorm.Apply(_x.AsSpan(t * embd, embd), L.FfnNorm, _xb.AsSpan(t * embd, embd), _c.RmsNormEpsilon);
            _matmul.Run(L.Gate, _xb, _gate, n);
            _matmul.Run(L.Up, _xb, _up, n, sameInput: true);
            Activations.SwiGlu(_gate.AsSpan(0, n * ffn), _up.AsSpan(0, n * ffn), ffn);
            _matmul.Run(L.Down, _gate, _xb2, n);
            TensorPrimitives.Add(_x.AsSpan(0, n * embd), _xb2.AsSpan(0, n * embd), _x.AsSpan(0, n * embd));
        }
        for (int e = 0; e < batch.EntryCount; e++) batch.Sequence(e).Length += batch.EntryLength(e);

        // Final norm and the output projection, only for the rows whose logits are wanted.
        int rows = 0;
        if (allTokenLogits)
            for (int t = 0; t < n; t++) _logitRows[rows++] = t;
        else
            for (int e = 0; e < batch.EntryCount; e++)
                if (batch.WantsLogits(e)) _logitRows[rows++] = batch.EntryStart(e) + batch.EntryLength(e) - 1;
        if (rows == 0) return;
        for (int r = 0; r < rows; r++)
            RmsNorm.Apply(_x.AsSpan(_logitRows[r] * embd, embd), _w.OutputNorm, _xb.AsSpan(r * embd, embd), _c.RmsNormEpsilon);
        _matmul.Run(_w.Output, _xb, logits, rows);
    }

    /// <summary>Writes the step's keys (after RoPE) and values into each token's slot of its sequence's blocks.</summary>
    private void StoreKv(ForwardBatch batch, KvBlockPool pool, int layer)
    {
        int kvDim = _c.KvDim, bs = pool.BlockSize;
        var entries = batch.TokenEntries;
        var positions = batch.Positions;
        for (int t = 0; t < batch.TokenCount; t++)
        {
            int p = positions[t];
            int[] blocks = batch.Sequence(entries[t]).BlockArray;
            int at = (blocks[p / bs] * bs + p % bs) * kvDim;
            var k = _k.AsSpan(t * kvDim, kvDim);
            var v = _v.AsSpan(t * kvDim, kvDim);
            if (pool.ElementType == KvElementType.F32)
            {
                k.CopyTo(pool.KeysF32![layer].AsSpan(at, kvDim));
                v.CopyTo(pool.ValuesF32![layer].AsSpan(at, kvDim));
            }
            else
            {
                TensorPrimitives.ConvertToHalf(k, pool.KeysF16![layer].AsSpan(at, kvDim));
                TensorPrimitives.ConvertToHalf(v, pool.ValuesF16![layer].AsSpan(at, kvDim));
            }
        }
    }

    private static void AddBias(float[] x, float[]? bias, int n, int width)
    {
        if (bias == null) return;
        for (int t = 0; t < n; t++)
            TensorPrimitives.Add(x.AsSpan(t * width, width), bias, x.AsSpan(t * width, width));
    }

    public void Dispose() => _team.Dispose();
}
