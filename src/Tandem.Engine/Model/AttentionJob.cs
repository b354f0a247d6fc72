using System.Numerics.Tensors;
using Tandem.Engine.Kernels;
using System.Runtime.Intrinsics;
using Tandem.Engine.KvCache;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Model;

/// <summary>
/// Causal self-attention for a flattened batch: each token attends to positions 0..its own of its sequence,
/// reading keys and values through the sequence's block table. Order of operations as llama.cpp's non-flash path:
/// kq = K·q, softmax(kq · 1/sqrt(headDim)), then V·kq. Over an F32 cache an item is one (token, head) pair; over an
/// F16 cache it is a tile of a few tokens of one sequence × the heads of one KV head (<see cref="F16AttentionTiles"/>),
/// so that each key and value row is widened once per tile rather than once per query. Run it over
/// <see cref="ItemCount"/> items.
/// </summary>
internal sealed class AttentionJob : IParallelJob
{
    private readonly ModelConfig _c;
    private readonly bool _batchInvariant; // see MatMul: one summation order for every batch size
    private readonly float[][] _scores; // per worker, one context's worth
    private readonly float[][] _lanes;  // per worker, V·p partial sums: one head row per accumulator lane
    private readonly F16AttentionTiles _f16;

    private float[] _q = [];
    private float[] _out = [];
    private ForwardBatch _batch = null!;
    private KvBlockPool _pool = null!;
    private int _layer;
    private bool _tiled;

    public AttentionJob(ModelConfig c, int workers, int maxContext, bool batchInvariant = true)
    {
        _batchInvariant = batchInvariant;
        _c = c;
        _scores = new float[workers][];
        _lanes = new float[workers][];
        for (int i = 0; i < workers; i++)
        {
            _lanes[i] = new float[4 * Math.Max(GgmlSimd.Width, 1) * c.HeadDim];
            _scores[i] = new float[maxContext];
        }
        _f16 = new F16AttentionTiles(c, workers, maxContext);
    }

    /// <summary>Items of the job set last: (token, head) pairs over an F32 cache, (tile of tokens, KV head) pairs over an F16 one.</summary>
    public int ItemCount { get; private set; }

    public void Set(float[] q, float[] output, ForwardBatch batch, KvBlockPool pool, int layer)
    {
        _q = q; _out = output; _batch = batch; _pool = pool; _layer = layer;
        _tiled = pool.ElementType == KvElementType.F16;
        int n = batch.TokenCount;
        ItemCount = _tiled ? (n + _f16.TokensPerTile - 1) / _f16.TokensPerTile * _c.HeadCountKv : n * _c.HeadCount;
    }

    public void Execute(int begin, int end, int worker)
    {
        if (_tiled)
        {
            ExecuteTiles(begin, end, worker);
            return;
        }
        int heads = _c.HeadCount, hd = _c.HeadDim, kvDim = _c.KvDim, qDim = _c.QDim;
        int group = heads / _c.HeadCountKv, bs = _pool.BlockSize;
        float scale = 1.0f / MathF.Sqrt(hd);
        var scores = _scores[worker];
        var entries = _batch.TokenEntries;
        var positions = _batch.Positions;
        float[] k32 = _pool.KeysF32![_layer], v32 = _pool.ValuesF32![_layer];

        for (int item = begin; item < end; item++)
        {
            int t = item / heads, h = item % heads;
            int kvOff = h / group * hd;
            int len = positions[t] + 1; // causal: sees its own position and every earlier one
            int[] blocks = _batch.Sequence(entries[t]).BlockArray;
            var q = new ReadOnlySpan<float>(_q, t * qDim + h * hd, hd);
            var s = scores.AsSpan(0, len);
            var keyCells = new KvCellCursor(blocks, bs, kvDim, kvOff);
            for (int j = 0; j < len; j++)
                // ggml_vec_dot_f32 (llama.cpp's kq = K·q, one dot per cell), then the soft_max scale.
                s[j] = GgmlFloatDot.VecDotF32(new ReadOnlySpan<float>(k32, keyCells.Next(), hd), q) * scale;
            Softmax.Apply(s);
            var o = new Span<float>(_out, t * qDim + h * hd, hd);
            if (GgmlSimd.Width > 0)
            {
                WeightedValues(s, blocks, bs, kvDim, kvOff, v32, o, _lanes[worker], tinyBlas: !_batchInvariant && _batch.TokenCount >= 2 && hd % 4 == 0);
                continue;
            }
            o.Clear();
            var valueCells = new KvCellCursor(blocks, bs, kvDim, kvOff);
            for (int j = 0; j < len; j++)
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(v32, valueCells.Next(), hd), s[j], o, o);
        }
    }

    /// <summary>
    /// F16 cache: item = (tile of <see cref="F16AttentionTiles.TokensPerTile"/> batch tokens, KV head). A tile's tokens
    /// that belong to different sequences (decode batches) are run one sequence at a time.
    /// </summary>
    private void ExecuteTiles(int begin, int end, int worker)
    {
        int kvHeads = _c.HeadCountKv, perTile = _f16.TokensPerTile, n = _batch.TokenCount;
        var entries = _batch.TokenEntries;
        for (int item = begin; item < end; item++)
        {
            int tile = item / kvHeads, kvHead = item % kvHeads;
            int t1 = Math.Min(n, (tile + 1) * perTile);
            for (int t0 = tile * perTile; t0 < t1;)
            {
                int run = t0 + 1;
                while (run < t1 && entries[run] == entries[t0]) run++;
                _f16.Run(worker, _q, _out, _batch, _pool, _layer, t0, run, kvHead);
                t0 = run;
            }
        }
    }

    /// <summary>
    /// o = Σ_j p_j·v_j in the order llama.cpp's kqv = V·softmax(kq) adds the products (F32 cache). Each output
    /// element is a dot over the KV cells: through tinyBLAS when the batch has two or more tokens (cell j goes
    /// to lane j mod W of one FMA accumulator), else through ggml_vec_dot_f32 (cell j goes to lane j mod W of
    /// accumulator (j mod 4W) / W). llama.cpp's rows run over the KV cells in view, padded to 256 with masked
    /// cells whose p is 0 and adds nothing, so stopping at the last real cell gives the same sums.
    /// </summary>
    internal static unsafe void WeightedValues(ReadOnlySpan<float> p, int[] blocks, int bs, int kvDim, int kvOff, float[] values,
        Span<float> o, float[] lanes, bool tinyBlas)
    {
        int hd = o.Length, w = GgmlSimd.Width, laneCount = tinyBlas ? w : 4 * w;
        if (hd % 8 != 0)
        {
            WeightedValuesScalarSums(p, blocks, bs, kvDim, kvOff, values, o, lanes, tinyBlas);
            return;
        }
        fixed (float* acc = lanes, v = values, pp = p)
        fixed (float* op = o)
        {
            // Accumulator lane l of output element d lives at acc[l * hd + d]: each cell's products are one FMA per
            // element into its lane's row, a whole head row at a time (as TensorPrimitives.FusedMultiplyAdd did).
            new Span<float>(acc, laneCount * hd).Clear();
            bool wide = Vector512.IsHardwareAccelerated && hd % 16 == 0;
            var cells = new KvCellCursor(blocks, bs, kvDim, kvOff);
            for (int j = 0; j < p.Length; j++)
            {
                float* vj = v + cells.Next();
                float* a = acc + (j & (laneCount - 1)) * hd; // laneCount: 8, 16, 32 or 64
                if (wide)
                {
                    var pj = Vector512.Create(pp[j]);
                    for (int d = 0; d < hd; d += 16)
                        Vector512.Store(Vector512.FusedMultiplyAdd(Vector512.Load(vj + d), pj, Vector512.Load(a + d)), a + d);
                }
                else
                {
                    var pj = Vector256.Create(pp[j]);
                    for (int d = 0; d < hd; d += 8)
                        Vector256.Store(Vector256.FusedMultiplyAdd(Vector256.Load(vj + d), pj, Vector256.Load(a + d)), a + d);
                }
            }
            // The per-element reduction of the lanes, eight elements at a time: lane i of each vector below is
            // element d + i's own sum, in exactly the order ggml reduces one element's accumulator lanes.
            Vector256<float>* s = stackalloc Vector256<float>[16];
            for (int d = 0; d < hd; d += 8)
            {
                // (a0 + a2) + (a1 + a3) over the four W-lane accumulators (ggml_vec_dot_f32), or tinyBLAS's single one.
                for (int i = 0; i < w; i++)
                    s[i] = tinyBlas ? Vector256.Load(acc + i * hd + d)
                        : (Vector256.Load(acc + i * hd + d) + Vector256.Load(acc + (2 * w + i) * hd + d))
                          + (Vector256.Load(acc + (w + i) * hd + d) + Vector256.Load(acc + (3 * w + i) * hd + d));
                if (w == 16) // ReduceAdd(Vector512): lower half + upper half first
                    for (int i = 0; i < 8; i++) s[i] += s[i + 8];
                for (int i = 0; i < 4; i++) s[i] += s[i + 4]; // lower 128 + upper 128
                Vector256<float> sum = w == 8 && !tinyBlas
                    ? (s[0] + s[1]) + (s[2] + s[3])  // ReduceAddHadd
                    : (s[0] + s[2]) + (s[1] + s[3]); // ReduceAdd
                Vector256.Store(sum, op + d);
            }
        }
    }

    /// <summary><see cref="WeightedValues"/> for head sizes that are not a multiple of 8: the same sums, one element at a time.</summary>
    internal static void WeightedValuesScalarSums(ReadOnlySpan<float> p, int[] blocks, int bs, int kvDim, int kvOff, float[] values,
        Span<float> o, float[] lanes, bool tinyBlas)
    {
        int hd = o.Length, w = GgmlSimd.Width, laneCount = tinyBlas ? w : 4 * w;
        var acc = lanes.AsSpan(0, laneCount * hd);
        acc.Clear();
        for (int j = 0; j < p.Length; j++)
        {
            int at = (blocks[j / bs] * bs + j % bs) * kvDim + kvOff;
            var lane = acc.Slice(j % laneCount * hd, hd);
            TensorPrimitives.FusedMultiplyAdd(new ReadOnlySpan<float>(values, at, hd), p[j], lane, lane);
        }
        Span<float> l = stackalloc float[64];
        for (int d = 0; d < hd; d++)
        {
            for (int i = 0; i < laneCount; i++) l[i] = acc[i * hd + d];
            if (w == 16)
            {
                var v0 = Vector512.Create((ReadOnlySpan<float>)l);
                o[d] = tinyBlas ? GgmlSimd.ReduceAdd(v0)
                    : GgmlSimd.ReduceAdd((v0 + Vector512.Create((ReadOnlySpan<float>)l[32..])) + (Vector512.Create((ReadOnlySpan<float>)l[16..]) + Vector512.Create((ReadOnlySpan<float>)l[48..])));
            }
            else
            {
                var v0 = Vector256.Create((ReadOnlySpan<float>)l);
                o[d] = tinyBlas ? GgmlSimd.ReduceAdd(v0)
                    : GgmlSimd.ReduceAddHadd((v0 + Vector256.Create((ReadOnlySpan<float>)l[16..])) + (Vector256.Create((ReadOnlySpan<float>)l[8..]) + Vector256.Create((ReadOnlySpan<float>)l[24..])));
            }
        }
    }
}
