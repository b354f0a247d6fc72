using System.Runtime.CompilerServices;
using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Kernels;

/// <summary>
/// y = W·x for a batch of activation rows: x is [n × W.Cols] F32, y is [n × W.Rows] F32.
/// Activations are first converted to the weight type's dot type (as ggml does), then output rows are
/// split over the team; each weight row is read once and dotted with all n activation rows while it is
/// in cache, so a batch costs one pass over the weights. Q4_0, Q5_0 and Q8_0 weights go through the
/// register-tiled kernels (<see cref="LegacyTiledMatMul"/>: four rows × up to eight tokens per kernel call,
/// activations in a <see cref="Q8ActivationPanel"/>; a single token on matrix × one-token kernels, <see cref="GemvRows"/>),
/// Q4_K through <see cref="Q4KTiledMatMul"/> (batches on AVX-512, one token on AVX-512 or AVX2), F16 through <see cref="F16TiledMatMul"/> (which has its own
/// one-token kernels); the other types dot one row with four tokens at a time.
/// Either way each (row, token) gets exactly the single-pair <c>Dot</c>'s result.
/// One instance per model; buffers are sized at construction and reused (no allocation per call).
/// </summary>
public sealed unsafe class MatMul : IParallelJob
{
    private readonly ThreadTeam _team;
    private readonly byte[] _xq;
    private readonly QuantizeRowsJob _quantize = new();
    private readonly FillPanelJob<Q8ActivationPanel> _fillQ8Panel = new();
    private readonly FillPanelJob<F16ActivationPanel> _fillF16Panel = new();
    private readonly MatMulKernelPath _path;
    private readonly LegacyTiledMatMul _legacyTiles;
    private readonly F16TiledMatMul _f16Tiles;
    private readonly Q4KTiledMatMul _q4kTiles;
    private readonly FillPanelJob<Q8KActivationPanel> _fillQ8KPanel = new();

    private WeightMatrix _w;
    private float* _y;
    private int _n;
    private bool _tinyBlas;
    private int _xqRowBytes;
    private byte* _xqPtr;
    private readonly bool _batchInvariant;

    /// <summary>What the scratch's activation panel was last filled from: reused by a call that says its input is the same.</summary>
    private (nint X, int N, int Cols, PanelKind Kind) _filled;

    private enum PanelKind { None, Q8, Q8K, F16 }

    /// <param name="maxRows">Largest batch of activation rows.</param>
    /// <param name="maxCols">Largest input width of any weight.</param>
    /// <param name="batchInvariant">
    /// Sum F32/F16/BF16 products in one order whatever the batch size (ggml_vec_dot's, which llama.cpp uses for
    /// single-token steps), so a sequence's results never depend on what it is batched with. When false,
    /// follow llama.cpp exactly, which switches to tinyBLAS's order for batches of two or more rows.
    /// Quantized types are unaffected: their dots are integer sums, identical either way.
    /// </param>
    /// <param name="kernelPath">
    /// Instruction set of the tiled quantised kernels; <see cref="MatMulKernelPath.Auto"/> (the default) takes the
    /// widest this machine has. Results are the same on every path.
    /// </param>
    public MatMul(ThreadTeam team, int maxRows, int maxCols, bool batchInvariant = true,
        MatMulKernelPath kernelPath = MatMulKernelPath.Auto)
    {
        _team = team;
        _batchInvariant = batchInvariant;
        _path = LegacyTiledMatMul.Resolve(kernelPath);
        _legacyTiles = new LegacyTiledMatMul(_path, team);
        _q4kTiles = new Q4KTiledMatMul(_path, team);
        _f16Tiles = new F16TiledMatMul(team, maxCols);
        // Widest dot-type row: F32 (4 bytes per element) bounds every quantized type; the panels add a little
        // (padding, a one-row batch's pair, flags); plus room to align a panel.
        long bytes = Math.Max(Math.Max((long)maxRows * maxCols * 4, Q8KActivationPanel.BytesNeeded(maxRows, maxCols)),
            Math.Max(Q8ActivationPanel.BytesNeeded(maxRows, maxCols), F16ActivationPanel.BytesNeeded(maxRows, maxCols)));
        _xq = GC.AllocateUninitializedArray<byte>(checked((int)bytes + PanelAlignment), pinned: true);
    }

    /// <summary>The kernel path in use (never <see cref="MatMulKernelPath.Auto"/>).</summary>
    public MatMulKernelPath KernelPath => _path;

    /// <summary>Weight types whose matmul runs on the tiled kernels over a <see cref="Q8ActivationPanel"/>.</summary>
    private static bool IsLegacyTiled(GgmlType type) => type is GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q8_0;

    private const int PanelAlignment = 64;

    /// <summary>Computes y[n × w.Rows] = x[n × w.Cols] · wᵀ.</summary>
    /// <param name="sameInput">
    /// x is the previous call's input, unchanged (the Q, K and V projections of one norm's output, gate and up): the
    /// activation panel that call filled is used again where it is of the same kind, width and batch, instead of rounding
    /// the same rows again. The panel's contents depend only on x, so the results are the same either way.
    /// </param>
    public void Run(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int n, bool sameInput = false)
    {
        if (x.Length < n * w.Cols || y.Length < n * w.Rows)
            throw new ArgumentException($"matmul {w.Name}: buffers too small for {n} rows");
        var dotType = RowKernels.DotType(w.Type);
        _xqRowBytes = (int)GgmlTypeInfo.RowBytes(dotType, w.Cols);
        if (_xqRowBytes * n > _xq.Length) throw new ArgumentException($"matmul {w.Name}: batch of {n} exceeds the scratch size");

        fixed (float* xp = x)
        fixed (float* yp = y)
        {
            _xqPtr = (byte*)Unsafe.AsPointer(ref _xq[0]); // pinned at allocation
            // llama.cpp sums F32/F16/BF16 products in a different order for batches (tinyBLAS) than for one row.
            _tinyBlas = !_batchInvariant && GgmlFloatDot.UsesTinyBlas(w.Rows, w.Cols, n);
            // One token (batch-1 decode): Q4_0/Q5_0/Q8_0 and Q4_K run on matrix x one-token kernels over the same
            // panels (LegacyTiledMatMul and Q4KTiledMatMul pick them), bit-identical to the tiles and the dot.
            if (IsLegacyTiled(w.Type))
            {
                RunLegacyTiled(w, xp, yp, n, sameInput);
                return;
            }
            if (w.Type == GgmlType.Q4_K && Q4KTiledMatMul.Takes(_path, n))
            {
                RunQ4KTiled(w, xp, yp, n, sameInput);
                return;
            }
            if (w.Type == GgmlType.F16 && !_tinyBlas && F16TiledMatMul.IsSupported)
            {
                RunF16Tiled(w, xp, yp, n, sameInput);
                return;
            }
            _filled = default; // the scratch now holds dot-type rows, no panel
            _quantize.Set(dotType, xp, w.Cols, _xqPtr, _xqRowBytes);
            if (n >= 8) _team.Run(_quantize, n, 4);
            else _quantize.Execute(0, n, 0);

            _w = w;
            _y = yp;
            _n = n;
            // Rows per chunk: enough work per hand-out to amortise the shared counter.
            int grain = Math.Max(1, 4096 / Math.Max(1, n) / Math.Max(1, w.Cols / 256));
            _team.Run(this, w.Rows, Math.Min(grain, 64));
        }
    }

    /// <summary>The scratch buffer's start rounded up to <see cref="PanelAlignment"/>, after checking it holds <paramref name="bytes"/>.</summary>
    private byte* PanelBuffer(long bytes, in WeightMatrix w, int n)
    {
        if (bytes + PanelAlignment > _xq.Length)
            throw new ArgumentException($"matmul {w.Name}: batch of {n} rows of {w.Cols} exceeds the scratch size");
        return (byte*)(((nuint)_xqPtr + PanelAlignment - 1) & ~(nuint)(PanelAlignment - 1));
    }

    /// <summary>Quantises x into a Q8_0 panel, then runs the row tiles over the team.</summary>
    private void RunLegacyTiled(in WeightMatrix w, float* x, float* y, int n, bool sameInput)
    {
        var panel = new Q8ActivationPanel(PanelBuffer(Q8ActivationPanel.BytesNeeded(n, w.Cols), w, n), n, w.Cols);
        Fill(_fillQ8Panel, panel, x, w.Cols, n, sameInput, PanelKind.Q8);

        _legacyTiles.Set(w, panel, y);
        RunRowTiles(_legacyTiles, w.Rows);
    }

    /// <summary>Quantises x into a Q8_K panel, then runs the Q4_K row tiles over the team.</summary>
    private void RunQ4KTiled(in WeightMatrix w, float* x, float* y, int n, bool sameInput)
    {
        var panel = new Q8KActivationPanel(PanelBuffer(Q8KActivationPanel.BytesNeeded(n, w.Cols), w, n), n, w.Cols);
        Fill(_fillQ8KPanel, panel, x, w.Cols, n, sameInput, PanelKind.Q8K);
        _q4kTiles.Set(w, panel, y);
        RunRowTiles(_q4kTiles, w.Rows);
    }

    /// <summary>
    /// Fills <paramref name="panel"/> from x's rows, unless the caller said its input is the last call's and the scratch
    /// holds the <paramref name="kind"/> panel of these very rows; recorded only once filled (a fill that throws leaves none).
    /// </summary>
    private void Fill<TPanel>(FillPanelJob<TPanel> job, in TPanel panel, float* x, int cols, int n, bool sameInput, PanelKind kind)
        where TPanel : struct, IActivationPanel
    {
        var rows = ((nint)x, n, cols, kind);
        if (sameInput && _filled == rows) return;
        _filled = default;
        job.Run(_team, panel, x, cols, n);
        _filled = rows;
    }

    private void RunRowTiles(IParallelJob job, int rows)
    {
        int tiles = RowTiles.Count(rows);
        // Tiles per hand-out: about eight hand-outs per thread for balance, but up to 16 tiles (64 rows) so that
        // a job writes whole cache lines of each output row (a 1-tile grain left 16-byte pieces of a
        // multi-megabyte y to be read back from memory: prefill ran 1.5x slower) and decode claims less often.
        _team.Run(job, tiles, Math.Clamp(tiles / (8 * _team.Size), 1, 16));
    }

    /// <summary>Rounds x to F16 and widens it into a panel, then runs the rows over the team.</summary>
    private void RunF16Tiled(in WeightMatrix w, float* x, float* y, int n, bool sameInput)
    {
        var panel = new F16ActivationPanel(PanelBuffer(F16ActivationPanel.BytesNeeded(n, w.Cols), w, n), n, w.Cols);
        Fill(_fillF16Panel, panel, x, w.Cols, n, sameInput, PanelKind.F16);

        _f16Tiles.Set(w, panel, y);
        // Rows per hand-out: as the tiles above, whole cache lines of y (16 rows) up to 64 rows, and whole blocks of
        // widened rows: a ragged block streams every token's activations past fewer rows.
        _team.Run(_f16Tiles, w.Rows, Math.Clamp(w.Rows / (8 * _team.Size), 16, 64) & -F16WidenedRows.MaxRows);
    }

    void IParallelJob.Execute(int begin, int end, int worker)
    {
        switch (_w.Type)
        {
            case GgmlType.F32 when _tinyBlas: RowsTinyBlasF32(begin, end); break;
            case GgmlType.F16 or GgmlType.BF16 when _tinyBlas: RowsTinyBlas16(begin, end, _w.Type == GgmlType.BF16); break;
            case GgmlType.F32: Rows<RowF32>(begin, end); break;
            case GgmlType.F16: RowsBy4<RowF16>(begin, end); break;
            case GgmlType.BF16: Rows<RowBF16>(begin, end); break;
            case GgmlType.Q4_1: Rows<RowQ4_1>(begin, end); break;
            case GgmlType.Q5_1: Rows<RowQ5_1>(begin, end); break;
            case GgmlType.Q4_K: RowsBy4<RowQ4_K>(begin, end); break;
            case GgmlType.Q5_K: Rows<RowQ5_K>(begin, end); break;
            case GgmlType.Q6_K: RowsBy4<RowQ6_K>(begin, end); break;
            default: throw new NotSupportedException($"matmul on {GgmlTypeInfo.Name(_w.Type)}");
        }
    }

    private void Rows<T>(int begin, int end) where T : IRowType
    {
        int cols = _w.Cols, rows = _w.Rows, n = _n, xqb = _xqRowBytes;
        int wrb = (int)_w.RowBytes;
        for (int r = begin; r < end; r++)
        {
            var wr = new ReadOnlySpan<byte>(_w.Data + (long)r * wrb, wrb);
            for (int t = 0; t < n; t++)
                _y[(long)t * rows + r] = T.Dot(wr, new ReadOnlySpan<byte>(_xqPtr + (long)t * xqb, xqb), cols);
        }
    }

    /// <summary>As <see cref="Rows{T}"/>, with the bit-identical four-token kernel for runs of four tokens.</summary>
    private void RowsBy4<T>(int begin, int end) where T : IMultiRowDot
    {
        int cols = _w.Cols, rows = _w.Rows, n = _n, xqb = _xqRowBytes;
        int wrb = (int)_w.RowBytes;
        Span<float> four = stackalloc float[4];
        for (int r = begin; r < end; r++)
        {
            var wr = new ReadOnlySpan<byte>(_w.Data + (long)r * wrb, wrb);
            int t = 0;
            // Four tokens at a time so that each weight block is decoded once per four dots.
            for (; t + 4 <= n; t += 4)
            {
                byte* a = _xqPtr + (long)t * xqb;
                T.Dot4(wr, new ReadOnlySpan<byte>(a, xqb), new ReadOnlySpan<byte>(a + xqb, xqb),
                    new ReadOnlySpan<byte>(a + 2L * xqb, xqb), new ReadOnlySpan<byte>(a + 3L * xqb, xqb), cols, four);
                _y[(long)t * rows + r] = four[0];
                _y[(long)(t + 1) * rows + r] = four[1];
                _y[(long)(t + 2) * rows + r] = four[2];
                _y[(long)(t + 3) * rows + r] = four[3];
            }
            for (; t < n; t++)
                _y[(long)t * rows + r] = T.Dot(wr, new ReadOnlySpan<byte>(_xqPtr + (long)t * xqb, xqb), cols);
        }
    }

    private void RowsTinyBlasF32(int begin, int end)
    {
        int cols = _w.Cols, rows = _w.Rows, n = _n, xqb = _xqRowBytes;
        for (int r = begin; r < end; r++)
        {
            var wr = new ReadOnlySpan<float>(_w.Data + (long)r * _w.RowBytes, cols);
            for (int t = 0; t < n; t++)
                _y[(long)t * rows + r] = GgmlFloatDot.TinyBlasF32(wr, new ReadOnlySpan<float>(_xqPtr + (long)t * xqb, cols));
        }
    }

    /// <summary>tinyBLAS order for 16-bit float weights (F16 or BF16, with activations of the same type).</summary>
    private void RowsTinyBlas16(int begin, int end, bool bf16)
    {
        int cols = _w.Cols, rows = _w.Rows, n = _n, xqb = _xqRowBytes;
        for (int r = begin; r < end; r++)
        {
            var wr = new ReadOnlySpan<ushort>(_w.Data + (long)r * _w.RowBytes, cols);
            for (int t = 0; t < n; t++)
            {
                var a = new ReadOnlySpan<ushort>(_xqPtr + (long)t * xqb, cols);
                _y[(long)t * rows + r] = bf16 ? GgmlFloatDot.TinyBlasBF16(wr, a) : GgmlFloatDot.TinyBlasF16(wr, a);
            }
        }
    }

    /// <summary>Fills a tiled kernel's activation panel, one token per item.</summary>
    private sealed class FillPanelJob<TPanel> : IParallelJob where TPanel : struct, IActivationPanel
    {
        private TPanel _panel;
        private float* _x;
        private int _cols;

        /// <summary>Fills <paramref name="panel"/> from the rows of <paramref name="x"/>, on the team when the batch is big enough to share.</summary>
        public void Run(ThreadTeam team, in TPanel panel, float* x, int cols, int n)
        {
            _panel = panel; _x = x; _cols = cols;
            if (n >= 8) team.Run(this, n, 4);
            else Execute(0, n, 0);
        }

        public void Execute(int begin, int end, int worker)
        {
            for (int t = begin; t < end; t++)
                _panel.Write(t, new ReadOnlySpan<float>(_x + (long)t * _cols, _cols));
        }
    }

    /// <summary>Converts activation rows to the dot type, one row per item.</summary>
    private sealed class QuantizeRowsJob : IParallelJob
    {
        private GgmlType _type;
        private float* _x;
        private int _cols;
        private byte* _dst;
        private int _dstRowBytes;

        public void Set(GgmlType type, float* x, int cols, byte* dst, int dstRowBytes)
        {
            _type = type; _x = x; _cols = cols; _dst = dst; _dstRowBytes = dstRowBytes;
        }

        public void Execute(int begin, int end, int worker)
        {
            for (int t = begin; t < end; t++)
                RowKernels.Quantize(_type, new ReadOnlySpan<float>(_x + (long)t * _cols, _cols),
                    new Span<byte>(_dst + (long)t * _dstRowBytes, _dstRowBytes));
        }
    }
}
