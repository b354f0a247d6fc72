using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Kernels;

/// <summary>
/// The body of a matmul whose weights are Q4_0, Q5_0 or Q8_0 (all dotted with Q8_0 activations): output rows in
/// tiles of four, tokens in pairs from a <see cref="Q8ActivationPanel"/>, each tile × token group computed by a
/// register-tiled micro-kernel (<see cref="LegacyTileAvx512"/>, <see cref="LegacyTileAvx2"/>,
/// <see cref="LegacyTilePortable"/>). Every kernel gives each (row, token) the single-pair <c>Dot</c>'s float, so
/// the tile shape, the batch size and a token's place in the batch never change a result: ragged edges reuse
/// the last row / token and drop the duplicate results instead of switching to another summation.
/// As a team job its items are row tiles; <see cref="Set"/> gives it one matmul at a time.
/// </summary>
internal sealed unsafe class LegacyTiledMatMul : IParallelJob
{
    public const int TileRows = 4;

    /// <summary>Tokens per row of a kernel's result block (four pairs).</summary>
    private const int ResultStride = 8;

    /// <summary>
    /// Token pairs per pass over a job's row tiles: 64 tokens of activations (about 100 KB at 1536 columns)
    /// stay in L2 while each of the job's weight tiles is run against them.
    /// </summary>
    private const int PairsPerPass = 32;

    private readonly MatMulKernelPath _path;
    private WeightMatrix _w;
    private Q8ActivationPanel _panel;
    private float* _y;

    /// <param name="path">Resolved (see <see cref="Resolve"/>).</param>
    public LegacyTiledMatMul(MatMulKernelPath path) => _path = path;

    /// <summary>Row tiles of <paramref name="rows"/> rows: the job's item count.</summary>
    public static int TileCount(int rows) => (rows + TileRows - 1) / TileRows;

    /// <summary>The matmul that the next run of this job computes.</summary>
    public void Set(in WeightMatrix w, in Q8ActivationPanel panel, float* y)
    {
        if (w.Type is not (GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q8_0))
            throw new ArgumentException($"{GgmlTypeInfo.Name(w.Type)} weights are not dotted with Q8_0 activations", nameof(w));
        _w = w; _panel = panel; _y = y;
    }

    public void Execute(int begin, int end, int worker)
    {
        switch (_w.Type)
        {
            case GgmlType.Q4_0: Rows<RowQ4_0.Q4_0Block>(_path, _w, _panel, _y, begin, end); break;
            case GgmlType.Q5_0: Rows<RowQ5_0.Q5_0Block>(_path, _w, _panel, _y, begin, end); break;
            default: Rows<RowQ8_0.Q8_0Block>(_path, _w, _panel, _y, begin, end); break;
        }
    }

    /// <summary>Whether <paramref name="path"/> can run here (<see cref="MatMulKernelPath.Auto"/> always can).</summary>
    public static bool IsSupported(MatMulKernelPath path) => path switch
    {
        MatMulKernelPath.Auto or MatMulKernelPath.Portable => true,
        MatMulKernelPath.Avx512 => LegacyTileAvx512.IsSupported,
        MatMulKernelPath.Avx2Vnni => LegacyTileAvx2.IsSupported && AvxVnni.IsSupported,
        MatMulKernelPath.Avx2 => LegacyTileAvx2.IsSupported,
        _ => false,
    };

    /// <summary><see cref="MatMulKernelPath.Auto"/> to the widest path of this machine; others checked and kept.</summary>
    public static MatMulKernelPath Resolve(MatMulKernelPath path)
    {
        if (path == MatMulKernelPath.Auto)
            return LegacyTileAvx512.IsSupported ? MatMulKernelPath.Avx512
                : !LegacyTileAvx2.IsSupported ? MatMulKernelPath.Portable
                : AvxVnni.IsSupported ? MatMulKernelPath.Avx2Vnni : MatMulKernelPath.Avx2;
        if (!IsSupported(path))
            throw new PlatformNotSupportedException($"the {path} matmul kernels need instructions this machine lacks");
        return path;
    }

    /// <summary>Token pairs one kernel call covers on <paramref name="path"/>.</summary>
    private static int PairsPerTile(MatMulKernelPath path) => path == MatMulKernelPath.Avx512 ? 4 : 1;

    /// <summary>
    /// y[t × w.Rows + r] for the rows of tiles <paramref name="tileBegin"/>..<paramref name="tileEnd"/> (tile i holds
    /// rows 4i..4i+3) and every token of <paramref name="panel"/>. <paramref name="path"/> must be resolved.
    /// </summary>
    private static void Rows<TDecoder>(MatMulKernelPath path, in WeightMatrix w, in Q8ActivationPanel panel, float* y,
        int tileBegin, int tileEnd)
        where TDecoder : ILegacyBlockDecoder
    {
        float* results = stackalloc float[TileRows * ResultStride];
        int rows = w.Rows, tokens = panel.Tokens, pairs = panel.Pairs;
        long rowBytes = w.RowBytes;
        int perTile = PairsPerTile(path);
        for (int passBegin = 0; passBegin < pairs; passBegin += PairsPerPass)
        {
            int passEnd = Math.Min(pairs, passBegin + PairsPerPass);
            for (int tile = tileBegin; tile < tileEnd; tile++)
            {
                int r0 = tile * TileRows;
                int rowCount = Math.Min(TileRows, rows - r0);
                byte* w0 = w.Data + r0 * rowBytes;
                byte* w1 = rowCount > 1 ? w0 + rowBytes : w0;
                byte* w2 = rowCount > 2 ? w0 + 2 * rowBytes : w1;
                byte* w3 = rowCount > 3 ? w0 + 3 * rowBytes : w2;
                if (tile + 1 < tileEnd) PrefetchTile(w0 + TileRows * rowBytes, TileRows * rowBytes);
                for (int p = passBegin; p < passEnd; p += perTile)
                {
                    int pairCount = Math.Min(perTile, passEnd - p);
                    Kernel<TDecoder>(path, pairCount, w0, w1, w2, w3, panel, p, results);
                    int t0 = 2 * p, tokenCount = Math.Min(2 * pairCount, tokens - t0);
                    for (int k = 0; k < tokenCount; k++)
                    {
                        float* dst = y + (long)(t0 + k) * rows + r0;
                        for (int r = 0; r < rowCount; r++)
                            dst[r] = results[r * ResultStride + k];
                    }
                }
            }
        }
    }

    /// <summary>
    /// Asks for the next tile's rows while this one runs. A tile reads its four rows side by side, four streams
    /// of a few hundred bytes that end before the hardware prefetcher has learnt them: single-token decode
    /// (bound by weight reads) ran at a third of the bandwidth of the row-by-row kernel without this.
    /// </summary>
    private static void PrefetchTile(byte* start, long bytes)
    {
        if (!Sse.IsSupported) return;
        for (long offset = 0; offset < bytes; offset += 64)
            Sse.Prefetch0(start + offset);
    }

    private static void Kernel<TDecoder>(MatMulKernelPath path, int pairCount, byte* w0, byte* w1, byte* w2, byte* w3,
        in Q8ActivationPanel panel, int pair, float* results)
        where TDecoder : ILegacyBlockDecoder
    {
        switch (path)
        {
            case MatMulKernelPath.Avx512:
                switch (pairCount)
                {
                    case 4: LegacyTileAvx512.Tile<TDecoder, Count4>(w0, w1, w2, w3, panel, pair, results); break;
                    case 3: LegacyTileAvx512.Tile<TDecoder, Count3>(w0, w1, w2, w3, panel, pair, results); break;
                    case 2: LegacyTileAvx512.Tile<TDecoder, Count2>(w0, w1, w2, w3, panel, pair, results); break;
                    default: LegacyTileAvx512.Tile<TDecoder, Count1>(w0, w1, w2, w3, panel, pair, results); break;
                }
                break;
            case MatMulKernelPath.Avx2Vnni:
                LegacyTileAvx2.Tile<TDecoder, VnniBlockSums>(w0, w1, w2, w3, panel, pair, results);
                break;
            case MatMulKernelPath.Avx2:
                LegacyTileAvx2.Tile<TDecoder, MaddubsBlockSums>(w0, w1, w2, w3, panel, pair, results);
                break;
            default:
                LegacyTilePortable.Tile<TDecoder>(w0, w1, w2, w3, panel, pair, results);
                break;
        }
    }
}
