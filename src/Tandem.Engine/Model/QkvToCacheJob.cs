using System.Numerics.Tensors;
using Tandem.Engine.Kernels;
using Tandem.Engine.KvCache;

namespace Tandem.Engine.Model;

/// <summary>
/// What happens to a token's Q/K/V projections before attention: the biases (Qwen2), RoPE on q and k, and k and v
/// into the token's KV cell. One token per item, on the team for batches of eight tokens or more (before, a step did
/// this on the calling thread between the projections and attention). Tokens touch disjoint rows and cells, and each
/// row's arithmetic is the same whichever thread does it.
/// </summary>
internal sealed class QkvToCacheJob : IParallelJob
{
    private readonly ModelConfig _c;
    private readonly Rope _rope;
    private readonly float[] _q, _k, _v, _cos, _sin;
    private LayerWeights _layerWeights = null!;
    private ForwardBatch _batch = null!;
    private KvBlockPool _pool = null!;
    private int _layer;

    /// <param name="cos">RoPE angles of the step's tokens (rotary dims / 2 per token), as <see cref="Rope.Angles"/> fills them.</param>
    public QkvToCacheJob(ModelConfig c, Rope rope, float[] q, float[] k, float[] v, float[] cos, float[] sin)
    {
        _c = c; _rope = rope; _q = q; _k = k; _v = v; _cos = cos; _sin = sin;
    }

    /// <summary>Processes every token of <paramref name="batch"/> for layer <paramref name="layer"/>.</summary>
    public void Run(ThreadTeam team, LayerWeights weights, ForwardBatch batch, KvBlockPool pool, int layer)
    {
        _layerWeights = weights; _batch = batch; _pool = pool; _layer = layer;
        int n = batch.TokenCount;
        if (n >= 8) team.Run(this, n, 4);
        else Execute(0, n, 0);
    }

    public void Execute(int begin, int end, int worker)
    {
        int qDim = _c.QDim, kvDim = _c.KvDim, half = _c.RopeDimensions / 2, bs = _pool.BlockSize;
        var L = _layerWeights;
        var entries = _batch.TokenEntries;
        var positions = _batch.Positions;
        for (int t = begin; t < end; t++)
        {
            var q = _q.AsSpan(t * qDim, qDim);
            var k = _k.AsSpan(t * kvDim, kvDim);
            var v = _v.AsSpan(t * kvDim, kvDim);
            if (L.Bq != null) TensorPrimitives.Add(q, L.Bq, q);
            if (L.Bk != null) TensorPrimitives.Add(k, L.Bk, k);
            if (L.Bv != null) TensorPrimitives.Add(v, L.Bv, v);
            var cos = _cos.AsSpan(t * half, half);
            var sin = _sin.AsSpan(t * half, half);
            _rope.Apply(q, _c.HeadDim, cos, sin);
            _rope.Apply(k, _c.HeadDim, cos, sin);

            int p = positions[t];
            int[] blocks = _batch.Sequence(entries[t]).BlockArray;
            int at = (blocks[p / bs] * bs + p % bs) * kvDim;
            if (_pool.ElementType == KvElementType.F32)
            {
                k.CopyTo(_pool.KeysF32![_layer].AsSpan(at, kvDim));
                v.CopyTo(_pool.ValuesF32![_layer].AsSpan(at, kvDim));
            }
            else
            {
                TensorPrimitives.ConvertToHalf(k, _pool.KeysF16![_layer].AsSpan(at, kvDim));
                TensorPrimitives.ConvertToHalf(v, _pool.ValuesF16![_layer].AsSpan(at, kvDim));
            }
        }
    }
}
