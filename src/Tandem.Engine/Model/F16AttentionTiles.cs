using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Tandem.Engine.Kernels;
using Tandem.Engine.KvCache;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Model;

/// <summary>
/// Causal attention over an F16 KV cache for a tile of queries that read the same keys and values: a few
/// consecutive tokens of one sequence × the query heads of one KV head. Each key and value row is widened to F32
/// once per tile, in chunks of <see cref="ChunkCells"/> cells that stay in L1 while every query of the tile reads
/// them, instead of once per query through a <c>TensorPrimitives.ConvertToSingle</c> call per cell as before.
/// <para>
/// The numbers are exactly the per-query computation's, whatever the tile: per query, the F32 query rounded through
/// F16 (ggml's vec_dot_type for a product with an F16 tensor), kq_j = Dot(k_j, q)·scale in
/// <c>TensorPrimitives.Dot</c>'s order, softmax, the probabilities rounded through F16, then o = Σ_j p_j·v_j added
/// cell after cell (<see cref="TensorPrimitivesOrder"/>). A tile only decides how often a row is widened, never
/// which products meet in which order, so results are the same for every batch and chunk split.
/// </para>
/// </summary>
internal sealed unsafe class F16AttentionTiles
{
    /// <summary>Most queries in one tile: their scores rows (one context each) and rounded queries are per-worker scratch.</summary>
    public const int MaxQueries = 16;

    /// <summary>Cells widened at a time: 64 rows of 64 floats are 16 KiB, in L1 while the tile's queries read them.</summary>
    private const int ChunkCells = 64;

    private readonly int _hd, _qDim, _maxContext, _group, _queriesPerTile, _workerFloats;
    private readonly int[]? _dotOrder;
    private readonly int _dotWidth;
    private readonly float[] _scratch;  // pinned; per worker: widened chunk | rounded queries | scores rows
    private readonly Half[][] _halves;  // per worker: the probabilities on their way through F16

    public F16AttentionTiles(ModelConfig c, int workers, int maxContext)
    {
        _hd = c.HeadDim;
        _qDim = c.QDim;
        _maxContext = maxContext;
        _group = c.HeadCount / c.HeadCountKv;
        _queriesPerTile = Math.Max(_group, MaxQueries / _group * _group);
        TokensPerTile = _queriesPerTile / _group;
        _dotOrder = TensorPrimitivesOrder.BlockOrder(_hd, out _dotWidth);
        int rowFloats = (_hd + 15) & ~15;
        _workerFloats = (ChunkCells * rowFloats + _queriesPerTile * rowFloats + _queriesPerTile * ((maxContext + 15) & ~15) + 15) & ~15;
        _scratch = GC.AllocateArray<float>(workers * _workerFloats + 16, pinned: true);
        _halves = new Half[workers][];
        for (int i = 0; i < workers; i++) _halves[i] = new Half[256];
    }

    /// <summary>Consecutive tokens of one sequence that share a tile (with all query heads of one KV head).</summary>
    public int TokensPerTile { get; }

    /// <summary>
    /// Attention for tokens <paramref name="t0"/>..<paramref name="t1"/> of <paramref name="batch"/> (all of one
    /// sequence, positions increasing) and the query heads of KV head <paramref name="kvHead"/>: reads their queries
    /// from <paramref name="q"/> and writes their outputs into <paramref name="output"/> (both token-major, QDim per token).
    /// </summary>
    public void Run(int worker, float[] q, float[] output, ForwardBatch batch, KvBlockPool pool, int layer, int t0, int t1, int kvHead)
    {
        int hd = _hd, group = _group, qDim = _qDim;
        int kvDim = pool.KvDim, bs = pool.BlockSize, rowFloats = (hd + 15) & ~15, scoresStride = (_maxContext + 15) & ~15;
        float scale = 1.0f / MathF.Sqrt(hd);
        var positions = batch.Positions;
        int[] blocks = batch.Sequence(batch.TokenEntries[t0]).BlockArray;
        int queries = (t1 - t0) * group, maxLen = 0;
        for (int t = t0; t < t1; t++) maxLen = Math.Max(maxLen, positions[t] + 1);
        if (maxLen > _maxContext) throw new ContextOverflowException(maxLen, _maxContext);
        float* ws = (float*)(((nuint)Unsafe.AsPointer(ref _scratch[0]) + 63) & ~(nuint)63) + worker * _workerFloats;
        float* rows = ws, qh = rows + ChunkCells * rowFloats, scores = qh + _queriesPerTile * rowFloats;
        fixed (float* qp = q, op = output)
        fixed (Half* keys = pool.KeysF16![layer], values = pool.ValuesF16![layer])
        {
            // Query i of the tile is token t0 + i / group, head kvHead·group + i % group.
            var halves = _halves[worker];
            for (int i = 0; i < queries; i++)
                RoundToHalf(qp + QueryOffset(i, t0, kvHead, qDim), qh + i * rowFloats, hd, halves);

            // kq = K·q, a chunk of widened keys at a time.
            var cells = new KvCellCursor(blocks, bs, kvDim, kvHead * hd);
            for (int c0 = 0; c0 < maxLen; c0 += ChunkCells)
            {
                int cn = Math.Min(ChunkCells, maxLen - c0);
                Widen(keys, ref cells, cn, hd, rows, rowFloats);
                for (int i = 0; i < queries; i++)
                {
                    int upto = Math.Min(positions[t0 + i / group] + 1, c0 + cn) - c0;
                    if (upto <= 0) continue;
                    float* s = scores + i * scoresStride + c0;
                    if (_dotOrder != null)
                        TensorPrimitivesOrder.ScaledDots(rows, upto, rowFloats, qh + i * rowFloats, _dotOrder, _dotWidth, scale, s);
                    else
                        for (int j = 0; j < upto; j++)
                            s[j] = TensorPrimitives.Dot(new ReadOnlySpan<float>(rows + j * rowFloats, hd), new ReadOnlySpan<float>(qh + i * rowFloats, hd)) * scale;
                }
            }

            // softmax, then the probabilities rounded through F16 as ggml rounds the F32 operand of V·kq.
            for (int i = 0; i < queries; i++)
            {
                var s = new Span<float>(scores + i * scoresStride, positions[t0 + i / group] + 1);
                Softmax.Apply(s);
                RoundToHalf(scores + i * scoresStride, scores + i * scoresStride, s.Length, halves);
                new Span<float>(op + QueryOffset(i, t0, kvHead, qDim), hd).Clear();
            }

            // o = V·p, a chunk of widened values at a time.
            cells = new KvCellCursor(blocks, bs, kvDim, kvHead * hd);
            for (int c0 = 0; c0 < maxLen; c0 += ChunkCells)
            {
                int cn = Math.Min(ChunkCells, maxLen - c0);
                Widen(values, ref cells, cn, hd, rows, rowFloats);
                for (int i = 0; i < queries; i++)
                {
                    int upto = Math.Min(positions[t0 + i / group] + 1, c0 + cn) - c0;
                    if (upto > 0)
                        TensorPrimitivesOrder.WeightedRowSum(rows, upto, rowFloats, scores + i * scoresStride + c0, op + QueryOffset(i, t0, kvHead, qDim), hd);
                }
            }
        }
    }

    private int QueryOffset(int i, int t0, int kvHead, int qDim) => (t0 + i / _group) * qDim + (kvHead * _group + i % _group) * _hd;

    /// <summary>
    /// The next <paramref name="count"/> cells' rows of <paramref name="hd"/> F16 values, widened exactly into
    /// <paramref name="dst"/> (rows <paramref name="stride"/> floats apart). The vector widening is exact for finite
    /// values; a chunk holding an F16 inf or NaN is widened again element by element.
    /// </summary>
    private static void Widen(Half* layer, ref KvCellCursor cells, int count, int hd, float* dst, int stride)
    {
        var magnitude512 = Vector512<uint>.Zero;
        var magnitude256 = Vector256<uint>.Zero;
        var magnitude128 = Vector128<uint>.Zero;
        int* at = stackalloc int[ChunkCells];
        for (int j = 0; j < count; j++)
        {
            at[j] = cells.Next();
            ref ushort src = ref *(ushort*)(layer + at[j]);
            float* d = dst + j * stride;
            int e = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; e + 16 <= hd; e += 16)
                    Vector512.Store(GgmlFloatDot.Half16(ref src, e, ref magnitude512), d + e);
            if (Vector256.IsHardwareAccelerated)
                for (; e + 8 <= hd; e += 8)
                    Vector256.Store(GgmlFloatDot.Half8(ref src, e, ref magnitude256), d + e);
            else if (Vector128.IsHardwareAccelerated)
                for (; e + 8 <= hd; e += 8)
                    Half8Portable(ref src, e, d + e, ref magnitude128);
            for (; e < hd; e++)
                d[e] = FloatConversions.HalfToSingle(Unsafe.Add(ref src, e));
        }
        var special = Vector128.Create(0x7C00u);
        if (Vector512.GreaterThanOrEqualAny(magnitude512, Vector512.Create(0x7C00u))
            || Vector256.GreaterThanOrEqualAny(magnitude256, Vector256.Create(0x7C00u))
            || Vector128.GreaterThanOrEqualAny(magnitude128, special))
            for (int j = 0; j < count; j++)
                for (int e = 0; e < hd; e++)
                    dst[j * stride + e] = FloatConversions.HalfToSingle(*(ushort*)(layer + at[j] + e));
    }

    /// <summary><see cref="GgmlFloatDot.Half8"/> in 128-bit vectors (Arm64 NEON, x64 without AVX2): the same exact bit route.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Half8Portable(ref ushort p, int i, float* dst, ref Vector128<uint> maxMagnitude)
    {
        (Vector128<uint> lo, Vector128<uint> hi) = Vector128.Widen(Vector128.LoadUnsafe(ref p, (nuint)i));
        Vector128.Store(HalfBitsToSingle(lo, ref maxMagnitude), dst);
        Vector128.Store(HalfBitsToSingle(hi, ref maxMagnitude), dst + 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> HalfBitsToSingle(Vector128<uint> h, ref Vector128<uint> maxMagnitude)
    {
        Vector128<uint> em = h & Vector128.Create(0x7FFFu);
        maxMagnitude = Vector128.Max(maxMagnitude, em);
        Vector128<uint> bits = (em << 13) | ((h << 16) & Vector128.Create(0x80000000u));
        return bits.AsSingle() * Vector128.Create(FloatConversions.TwoPow112);
    }

    /// <summary>
    /// The per-(token, head) computation the tiles replaced, one <c>TensorPrimitives</c> call per cell, kept as their
    /// specification: tests check the tiles against it bit for bit, and the attention bench times it as "before".
    /// </summary>
    internal static void PerQueryReference(ReadOnlySpan<float> q, Half[] keys, Half[] values, int[] blocks, int bs, int kvDim, int kvOff,
        int len, Span<float> o, float[] scores, float[] qh, float[] row)
    {
        int hd = q.Length;
        for (int i = 0; i < hd; i++) qh[i] = (float)(Half)q[i];
        var s = scores.AsSpan(0, len);
        float scale = 1.0f / MathF.Sqrt(hd);
        for (int j = 0; j < len; j++)
        {
            TensorPrimitives.ConvertToSingle(keys.AsSpan((blocks[j / bs] * bs + j % bs) * kvDim + kvOff, hd), row);
            s[j] = TensorPrimitives.Dot(row.AsSpan(0, hd), qh.AsSpan(0, hd)) * scale;
        }
        Softmax.Apply(s);
        for (int j = 0; j < len; j++) s[j] = (float)(Half)s[j];
        o.Clear();
        for (int j = 0; j < len; j++)
        {
            TensorPrimitives.ConvertToSingle(values.AsSpan((blocks[j / bs] * bs + j % bs) * kvDim + kvOff, hd), row);
            TensorPrimitives.MultiplyAdd(row.AsSpan(0, hd), s[j], o, o);
        }
    }

    /// <summary>
    /// y = (float)(Half)x (in place where y is x) through the vectorised conversions (the same rounding as the casts), a
    /// buffer's worth at a time. The queries went through one scalar cast per element, about a fifth of the tiles'
    /// prefill time (attention bench, 512 tokens: 5.6-5.7 against 4.4-4.5 ms per layer).
    /// </summary>
    private static void RoundToHalf(float* x, float* y, int n, Half[] buffer)
    {
        for (int i = 0; i < n; i += buffer.Length)
        {
            int count = Math.Min(buffer.Length, n - i);
            var h = buffer.AsSpan(0, count);
            TensorPrimitives.ConvertToHalf(new ReadOnlySpan<float>(x + i, count), h);
            TensorPrimitives.ConvertToSingle(h, new Span<float>(y + i, count));
        }
    }
}
