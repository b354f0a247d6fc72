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
/// activations in a <see cref="Q8ActivationPanel"/>), Q4_K on AVX-512 through <see cref="Q4KTiledMatMul"/>, F16
/// through <see cref="F16TiledMatMul"/>; the other types dot one row with four tokens at a time.
/// Either way each (row, token) gets exactly the single-pair <c>Dot</c>'s result.
/// Matrices that read the same activations (Q, K and V; gate and up) can run as one: the activations are converted
/// once and the team runs one job over all their rows (<see cref="MatMulParts"/>), with the same results.
/// One instance per model; buffers are sized at construction and reused (no allocation per call).
/// </summary>
public sealed unsafe class MatMul : IMatMulBody
{
    private readonly ThreadTeam _team;
    private readonly byte[] _xq;
    private readonly QuantizeRowsJob _quantize = new();
    private readonly FillPanelJob<Q8ActivationPanel> _fillQ8Panel = new();
    private readonly FillPanelJob<F16ActivationPanel> _fillF16Panel = new();
    private readonly MatMulKernelPath _path;
    private readonly LegacyTiledMatMul _legacyTiles;
    private readonly F16TiledMatMul _f16Tiles;
    private readonly Q4KTiledMatMul _q4kTiles = new();
    private readonly FillPanelJob<Q8KActivationPanel> _fillQ8KPanel = new();
    private readonly MatMulParts _parts = new();

    // The row-by-row body's activations (dot-type rows), set by RunParts for its Execute.
    private int _n;
    private bool _tinyBlas;
    private int _xqRowBytes;
    private byte* _xqPtr;
    private readonly bool _batchInvariant;

    /// <summary>Which kernel family computes a matmul; matrices can share a job only within one (and one activation type).</summary>
    private enum Kernel { LegacyTiles, Q4KTiles, F16Tiles, Rows }

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
        _legacyTiles = new LegacyTiledMatMul(_path);
        _f16Tiles = new F16TiledMatMul(team.Size, maxCols);
        // Widest dot-type row: F32 (4 bytes per element) bounds every quantized type; the panels add a little
        // (padding, a one-row batch's pair, flags); plus room to align a panel.
        long bytes = Math.Max(Math.Max((long)maxRows * maxCols * 4, Q8KActivationPanel.BytesNeeded(maxRows, maxCols)),
            Math.Max(Q8ActivationPanel.BytesNeeded(maxRows, maxCols), F16ActivationPanel.BytesNeeded(maxRows, maxCols)));
        _xq = GC.AllocateUninitializedArray<byte>(checked((int)bytes + PanelAlignment), pinned: true);
        _xqPtr = (byte*)Unsafe.AsPointer(ref _xq[0]); // pinned at allocation
    }

    /// <summary>The kernel path in use (never <see cref="MatMulKernelPath.Auto"/>).</summary>
    public MatMulKernelPath KernelPath => _path;

    private const int PanelAlignment = 64;

    /// <summary>
    /// Computes y[n × w.Rows] = x[n × w.Cols] · wᵀ. When <paramref name="step"/> is given, it first produces each
    /// token's row of x (in place), inside the job that converts the row.
    /// </summary>
    public void Run(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int n, IActivationStep? step = null) =>
        RunShared(x, n, 1, w, y, default, default, default, default, step);

    /// <summary>
    /// y0 = x · w0ᵀ and y1 = x · w1ᵀ (gate and up): one conversion of x and one team job when both matrices run on
    /// the same kernels, else one matmul after the other. Results as two <see cref="Run(in WeightMatrix, ReadOnlySpan{float}, Span{float}, int, IActivationStep?)"/>
    /// calls. A step writes x's rows in place, once.
    /// </summary>
    public void Run(ReadOnlySpan<float> x, int n, in WeightMatrix w0, Span<float> y0, in WeightMatrix w1, Span<float> y1,
        IActivationStep? step = null)
    {
        if (!CanShare(w0, w1, n))
        {
            Run(w0, x, y0, n, step);
            Run(w1, x, y1, n); // x already holds the step's rows
            return;
        }
        RunShared(x, n, 2, w0, y0, w1, y1, default, default, step);
    }

    /// <summary>As the two-matrix <c>Run</c>, for three (Q, K and V).</summary>
    public void Run(ReadOnlySpan<float> x, int n, in WeightMatrix w0, Span<float> y0, in WeightMatrix w1, Span<float> y1,
        in WeightMatrix w2, Span<float> y2, IActivationStep? step = null)
    {
        if (!CanShare(w0, w1, n) || !CanShare(w0, w2, n))
        {
            Run(x, n, w0, y0, w1, y1, step);
            Run(w2, x, y2, n);
            return;
        }
        RunShared(x, n, 3, w0, y0, w1, y1, w2, y2, step);
    }

    /// <summary>The first <paramref name="count"/> matrices (which can share, see <see cref="CanShare"/>) as one matmul.</summary>
    private void RunShared(ReadOnlySpan<float> x, int n, int count, in WeightMatrix w0, Span<float> y0, in WeightMatrix w1, Span<float> y1,
        in WeightMatrix w2, Span<float> y2, IActivationStep? step)
    {
        CheckBuffers(w0, x, y0, n);
        if (count > 1) CheckBuffers(w1, x, y1, n);
        if (count > 2) CheckBuffers(w2, x, y2, n);
        fixed (float* xp = x)
        fixed (float* yp0 = y0)
        fixed (float* yp1 = y1)
        fixed (float* yp2 = y2)
        {
            _parts.Clear();
            _parts.Add(w0, yp0);
            if (count > 1) _parts.Add(w1, yp1);
            if (count > 2) _parts.Add(w2, yp2);
            RunParts(xp, n, step);
        }
    }

    private static void CheckBuffers(in WeightMatrix w, ReadOnlySpan<float> x, Span<float> y, int n)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), n, $"matmul {w.Name}: needs at least one row");
        if (x.Length < n * w.Cols || y.Length < n * w.Rows)
            throw new ArgumentException($"matmul {w.Name}: buffers too small for {n} rows");
    }

    /// <summary>
    /// Whether two matrices can run in one job: the same input width and kernel family, so one conversion of the
    /// activations serves both (Q4_0, Q5_0 and Q8_0 share a Q8_0 panel; row-by-row types need the same dot type).
    /// </summary>
    private bool CanShare(in WeightMatrix a, in WeightMatrix b, int n)
    {
        if (a.Cols != b.Cols) return false;
        var kernel = KernelFor(a, n);
        if (kernel != KernelFor(b, n)) return false;
        return kernel != Kernel.Rows
            || (RowKernels.DotType(a.Type) == RowKernels.DotType(b.Type) && TinyBlas(a, n) == TinyBlas(b, n));
    }

    /// <summary>llama.cpp sums F32/F16/BF16 products in a different order for batches (tinyBLAS) than for one row.</summary>
    private bool TinyBlas(in WeightMatrix w, int n) => !_batchInvariant && GgmlFloatDot.UsesTinyBlas(w.Rows, w.Cols, n);

    private Kernel KernelFor(in WeightMatrix w, int n)
    {
        // One token (batch-1 decode): the tiles would compute a pair with the token duplicated, so the single
        // dot of the same path, bit-identical, runs instead. Kernel bench, n = 1, 8192 x 4096 weights (out of
        // cache), ns per 32 products, AVX-512 dot vs tiles: Q4_0 1.68 vs 2.20, Q5_0 2.94 vs 3.25, Q8_0 2.61 vs
        // 2.43, Q4_K 1.00 vs 1.12; AVX2 tiles 3.5-3.7 against dots of 1.7-2.9. The portable path keeps its tiles:
        // its results are ggml's generic ones, which the SIMD dots do not reproduce.
        bool singleDot = n == 1 && _path != MatMulKernelPath.Portable;
        if (LegacyTiledMatMul.Handles(w.Type) && !singleDot) return Kernel.LegacyTiles;
        if (w.Type == GgmlType.Q4_K && _path == MatMulKernelPath.Avx512 && !singleDot) return Kernel.Q4KTiles;
        if (w.Type == GgmlType.F16 && !TinyBlas(w, n) && F16TiledMatMul.IsSupported) return Kernel.F16Tiles;
        return Kernel.Rows;
    }

    /// <summary>Converts x once for the kernels of the parts' matrices (all of one family), then runs them as one team job.</summary>
    private void RunParts(float* x, int n, IActivationStep? step)
    {
        ref readonly var w = ref _parts[0];
        int cols = w.Cols;
        switch (KernelFor(w, n))
        {
            case Kernel.LegacyTiles:
                FillPanel(_fillQ8Panel, _legacyTiles, new Q8ActivationPanel(PanelBuffer(Q8ActivationPanel.BytesNeeded(n, cols), w, n), n, cols), x, n, step);
                RunRowTiles(_legacyTiles);
                break;
            case Kernel.Q4KTiles:
                FillPanel(_fillQ8KPanel, _q4kTiles, new Q8KActivationPanel(PanelBuffer(Q8KActivationPanel.BytesNeeded(n, cols), w, n), n, cols), x, n, step);
                RunRowTiles(_q4kTiles);
                break;
            case Kernel.F16Tiles:
            {
                // Rounds x to F16 and widens it into a panel.
                FillPanel(_fillF16Panel, _f16Tiles, new F16ActivationPanel(PanelBuffer(F16ActivationPanel.BytesNeeded(n, cols), w, n), n, cols), x, n, step);
                int rows = _parts.Prepare(_f16Tiles);
                // Rows per hand-out: as the tiles below, whole cache lines of y (16 rows) up to 64 rows, whole row tiles.
                _team.Run(_parts, rows, Math.Clamp(rows / (8 * _team.Size), 16, 64) & ~3);
                break;
            }
            default:
            {
                var dotType = RowKernels.DotType(w.Type);
                _xqRowBytes = (int)GgmlTypeInfo.RowBytes(dotType, cols);
                if ((long)_xqRowBytes * n > _xq.Length) throw new ArgumentException($"matmul {w.Name}: batch of {n} exceeds the scratch size");
                _quantize.Set(dotType, x, cols, _xqPtr, _xqRowBytes, step);
                if (n >= 8) _team.Run(_quantize, n, 4);
                else _quantize.Execute(0, n, 0);
                _n = n;
                _tinyBlas = TinyBlas(w, n);
                int rows = _parts.Prepare(this);
                // Rows per chunk: enough work per hand-out to amortise the shared counter.
                int grain = Math.Max(1, 4096 / Math.Max(1, n) / Math.Max(1, cols / 256));
                _team.Run(_parts, rows, Math.Min(grain, 64));
                break;
            }
        }
    }

    /// <summary>Converts x (after the step, if any) into <paramref name="panel"/>, which <paramref name="body"/> then reads.</summary>
    private void FillPanel<TPanel>(FillPanelJob<TPanel> fill, IPanelMatMulBody<TPanel> body, in TPanel panel, float* x, int n,
        IActivationStep? step) where TPanel : struct, IActivationPanel
    {
        fill.Run(_team, panel, x, _parts[0].Cols, n, step);
        body.SetPanel(panel);
    }

    /// <summary>The scratch buffer's start rounded up to <see cref="PanelAlignment"/>, after checking it holds <paramref name="bytes"/>.</summary>
    private byte* PanelBuffer(long bytes, in WeightMatrix w, int n)
    {
        if (bytes + PanelAlignment > _xq.Length)
            throw new ArgumentException($"matmul {w.Name}: batch of {n} rows of {w.Cols} exceeds the scratch size");
        return (byte*)(((nuint)_xqPtr + PanelAlignment - 1) & ~(nuint)(PanelAlignment - 1));
    }

    /// <summary>Runs the parts' row tiles over the team.</summary>
    private void RunRowTiles(IMatMulBody body)
    {
        int tiles = _parts.Prepare(body);
        // Tiles per hand-out: about eight hand-outs per thread for balance, but up to 16 tiles (64 rows) so that
        // a job writes whole cache lines of each output row (a 1-tile grain left 16-byte pieces of a
        // multi-megabyte y to be read back from memory: prefill ran 1.5x slower) and decode claims less often.
        _team.Run(_parts, tiles, Math.Clamp(tiles / (8 * _team.Size), 1, 16));
    }

    /// <summary>Row by row over dot-type activation rows (the types without tiles, and single tokens).</summary>
    int IMatMulBody.Items(in WeightMatrix w) => w.Rows;

    void IMatMulBody.Execute(in WeightMatrix w, float* y, int begin, int end, int worker)
    {
        switch (w.Type)
        {
            case GgmlType.F32 when _tinyBlas: RowsTinyBlasF32(w, y, begin, end); break;
            case GgmlType.F16 or GgmlType.BF16 when _tinyBlas: RowsTinyBlas16(w, y, begin, end, w.Type == GgmlType.BF16); break;
            case GgmlType.F32: Rows<RowF32>(w, y, begin, end); break;
            case GgmlType.F16: RowsBy4<RowF16>(w, y, begin, end); break;
            case GgmlType.BF16: Rows<RowBF16>(w, y, begin, end); break;
            case GgmlType.Q4_0: Rows<RowQ4_0>(w, y, begin, end); break; // single tokens only: batches run on the tiles
            case GgmlType.Q5_0: Rows<RowQ5_0>(w, y, begin, end); break;
            case GgmlType.Q8_0: Rows<RowQ8_0>(w, y, begin, end); break;
            case GgmlType.Q4_1: Rows<RowQ4_1>(w, y, begin, end); break;
            case GgmlType.Q5_1: Rows<RowQ5_1>(w, y, begin, end); break;
            case GgmlType.Q4_K: RowsBy4<RowQ4_K>(w, y, begin, end); break;
            case GgmlType.Q5_K: Rows<RowQ5_K>(w, y, begin, end); break;
            case GgmlType.Q6_K: RowsBy4<RowQ6_K>(w, y, begin, end); break;
            default: throw new NotSupportedException($"matmul on {GgmlTypeInfo.Name(w.Type)}");
        }
    }

    private void Rows<T>(in WeightMatrix w, float* y, int begin, int end) where T : IRowType
    {
        int cols = w.Cols, rows = w.Rows, n = _n, xqb = _xqRowBytes;
        int wrb = (int)w.RowBytes;
        for (int r = begin; r < end; r++)
        {
            var wr = new ReadOnlySpan<byte>(w.Data + (long)r * wrb, wrb);
            for (int t = 0; t < n; t++)
                y[(long)t * rows + r] = T.Dot(wr, new ReadOnlySpan<byte>(_xqPtr + (long)t * xqb, xqb), cols);
        }
    }

    /// <summary>As <see cref="Rows{T}"/>, with the bit-identical four-token kernel for runs of four tokens.</summary>
    private void RowsBy4<T>(in WeightMatrix w, float* y, int begin, int end) where T : IMultiRowDot
    {
        int cols = w.Cols, rows = w.Rows, n = _n, xqb = _xqRowBytes;
        int wrb = (int)w.RowBytes;
        Span<float> four = stackalloc float[4];
        for (int r = begin; r < end; r++)
        {
            var wr = new ReadOnlySpan<byte>(w.Data + (long)r * wrb, wrb);
            int t = 0;
            // Four tokens at a time so that each weight block is decoded once per four dots.
            for (; t + 4 <= n; t += 4)
            {
                byte* a = _xqPtr + (long)t * xqb;
                T.Dot4(wr, new ReadOnlySpan<byte>(a, xqb), new ReadOnlySpan<byte>(a + xqb, xqb),
                    new ReadOnlySpan<byte>(a + 2L * xqb, xqb), new ReadOnlySpan<byte>(a + 3L * xqb, xqb), cols, four);
                y[(long)t * rows + r] = four[0];
                y[(long)(t + 1) * rows + r] = four[1];
                y[(long)(t + 2) * rows + r] = four[2];
                y[(long)(t + 3) * rows + r] = four[3];
            }
            for (; t < n; t++)
                y[(long)t * rows + r] = T.Dot(wr, new ReadOnlySpan<byte>(_xqPtr + (long)t * xqb, xqb), cols);
        }
    }

    private void RowsTinyBlasF32(in WeightMatrix w, float* y, int begin, int end)
    {
        int cols = w.Cols, rows = w.Rows, n = _n, xqb = _xqRowBytes;
        for (int r = begin; r < end; r++)
        {
            var wr = new ReadOnlySpan<float>(w.Data + (long)r * w.RowBytes, cols);
            for (int t = 0; t < n; t++)
                y[(long)t * rows + r] = GgmlFloatDot.TinyBlasF32(wr, new ReadOnlySpan<float>(_xqPtr + (long)t * xqb, cols));
        }
    }

    /// <summary>tinyBLAS order for 16-bit float weights (F16 or BF16, with activations of the same type).</summary>
    private void RowsTinyBlas16(in WeightMatrix w, float* y, int begin, int end, bool bf16)
    {
        int cols = w.Cols, rows = w.Rows, n = _n, xqb = _xqRowBytes;
        for (int r = begin; r < end; r++)
        {
            var wr = new ReadOnlySpan<ushort>(w.Data + (long)r * w.RowBytes, cols);
            for (int t = 0; t < n; t++)
            {
                var a = new ReadOnlySpan<ushort>(_xqPtr + (long)t * xqb, cols);
                y[(long)t * rows + r] = bf16 ? GgmlFloatDot.TinyBlasBF16(wr, a) : GgmlFloatDot.TinyBlasF16(wr, a);
            }
        }
    }

    /// <summary>Fills a tiled kernel's activation panel, one token per item (after the token's <see cref="IActivationStep"/>, if any).</summary>
    private sealed class FillPanelJob<TPanel> : IParallelJob where TPanel : struct, IActivationPanel
    {
        private TPanel _panel;
        private float* _x;
        private int _cols;
        private IActivationStep? _step;

        /// <summary>Fills <paramref name="panel"/> from the rows of <paramref name="x"/>, on the team when the batch is big enough to share.</summary>
        public void Run(ThreadTeam team, in TPanel panel, float* x, int cols, int n, IActivationStep? step)
        {
            _panel = panel; _x = x; _cols = cols; _step = step;
            if (n >= 8) team.Run(this, n, 4);
            else Execute(0, n, 0);
        }

        public void Execute(int begin, int end, int worker)
        {
            for (int t = begin; t < end; t++)
            {
                _step?.Apply(t);
                _panel.Write(t, new ReadOnlySpan<float>(_x + (long)t * _cols, _cols));
            }
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
        private IActivationStep? _step;

        public void Set(GgmlType type, float* x, int cols, byte* dst, int dstRowBytes, IActivationStep? step)
        {
            _type = type; _x = x; _cols = cols; _dst = dst; _dstRowBytes = dstRowBytes; _step = step;
        }

        public void Execute(int begin, int end, int worker)
        {
            for (int t = begin; t < end; t++)
            {
                _step?.Apply(t);
                RowKernels.Quantize(_type, new ReadOnlySpan<float>(_x + (long)t * _cols, _cols),
                    new Span<byte>(_dst + (long)t * _dstRowBytes, _dstRowBytes));
            }
        }
    }
}
