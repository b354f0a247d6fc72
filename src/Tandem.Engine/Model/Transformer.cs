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

    // Per-token work run inside the team's jobs (see IActivationStep, QkvToCacheJob).
    private readonly RmsNormStep _norm;
    private readonly SwiGluStep _swiGlu;
    private readonly QkvToCacheJob _qkvToCache;

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
        _norm = new RmsNormStep(_x, _xb, _c.EmbeddingLength, _c.RmsNormEpsilon);
        _swiGlu = new SwiGluStep(_gate, _up, _c.FeedForwardLength);
        _qkvToCache = new QkvToCacheJob(_c, _rope, _q, _k, _v, _cos, _sin);
    }

    /// <summary>Jobs the thread team has run so far (<see cref="ThreadTeam.JobsRun"/>): a step's synchronisation count.</summary>
    internal long TeamJobs => _team.JobsRun;

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
        int n = batch.TokenCount, embd = _c.EmbeddingLength;
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

            // Attention: (the previous block's residual add and) rmsnorm, Q/K/V projections (+ biases), RoPE, KV append,
            // attention, output projection. The add and norm run inside the job that quantises their rows; Q/K/V run as
            // one matmul job where their types allow.
            _norm.Weight = L.AttnNorm;
            _norm.Delta = l == 0 ? null : _xb2;
            _matmul.Run(_xb, n, L.Wq, _q, L.Wk, _k, L.Wv, _v, _norm);
            _qkvToCache.Run(_team, L, batch, pool!, l);

            _attention.Set(_q, _att, batch, pool!, l);
            _team.Run(_attention, _attention.ItemCount, 1);
            _matmul.Run(L.Wo, _att, _xb2, n);

            // Feed-forward: residual add and rmsnorm, SwiGLU, down projection; gate and up as one matmul job, the
            // SwiGLU inside the job that quantises the down projection's input.
            _norm.Weight = L.FfnNorm;
            _norm.Delta = _xb2;
            _matmul.Run(_xb, n, L.Gate, _gate, L.Up, _up, _norm);
            _matmul.Run(L.Down, _gate, _xb2, n, _swiGlu);
        }
        // The last block's residual add (the others ran in the next norm's step).
        TensorPrimitives.Add(_x.AsSpan(0, n * embd), _xb2.AsSpan(0, n * embd), _x.AsSpan(0, n * embd));
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

    public void Dispose() => _team.Dispose();
}
