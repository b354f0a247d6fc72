using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Kernels;

/// <summary>
/// The body of a matmul whose weights are Q4_0, Q5_0 or Q8_0 (all dotted with Q8_0 activations): the row tiles
/// (<see cref="RowTiles"/>) of the micro-kernel of the chosen path (<see cref="LegacyTileAvx512"/>,
/// <see cref="LegacyTileAvx2"/>, <see cref="LegacyTilePortable"/>) over a <see cref="Q8ActivationPanel"/>.
/// As a team job its items are row tiles; <see cref="Set"/> gives it one matmul at a time.
/// </summary>
internal sealed unsafe class LegacyTiledMatMul : IParallelJob
{
    private readonly MatMulKernelPath _path;
    private readonly NextChunkHint _following;
    private WeightMatrix _w;
    private Q8ActivationPanel _panel;
    private float* _y;

    /// <param name="path">Resolved (see <see cref="Resolve"/>).</param>
    /// <param name="team">The team that runs this job (its next unclaimed tile is where a one-token chunk prefetches into).</param>
    public LegacyTiledMatMul(MatMulKernelPath path, ThreadTeam team)
    {
        _path = path;
        _following = new NextChunkHint(team, RowTiles.TileRows);
    }

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
            case GgmlType.Q4_0: Rows<RowQ4_0.Q4_0Block>(begin, end); break;
            case GgmlType.Q5_0: Rows<RowQ5_0.Q5_0Block>(begin, end); break;
            default: Rows<RowQ8_0.Q8_0Block>(begin, end); break;
        }
    }

    private void Rows<TDecoder>(int begin, int end) where TDecoder : ILegacyBlockDecoder
    {
        if (_panel.Tokens == 1 && _path != MatMulKernelPath.Portable)
        {
            OneToken<TDecoder>(begin * RowTiles.TileRows, Math.Min(end * RowTiles.TileRows, _w.Rows));
            return;
        }
        switch (_path)
        {
            case MatMulKernelPath.Avx512:
                RowTiles.Run<LegacyTileAvx512.Kernel<TDecoder>, Q8ActivationPanel>(_w, _panel, _y, begin, end);
                break;
            case MatMulKernelPath.Avx2Vnni:
                RowTiles.Run<LegacyTileAvx2.Kernel<TDecoder, VnniBlockSums>, Q8ActivationPanel>(_w, _panel, _y, begin, end);
                break;
            case MatMulKernelPath.Avx2:
                RowTiles.Run<LegacyTileAvx2.Kernel<TDecoder, MaddubsBlockSums>, Q8ActivationPanel>(_w, _panel, _y, begin, end);
                break;
            default:
                RowTiles.Run<LegacyTilePortable.Kernel<TDecoder>, Q8ActivationPanel>(_w, _panel, _y, begin, end);
                break;
        }
    }

    /// <summary>
    /// One token (batch-1 decode) on the matrix × one-token kernels, whose results are those of the row tiles and of
    /// <c>Dot</c>; the portable path keeps its tiles (ggml's generic results, which have no one-token kernel here).
    /// </summary>
    private void OneToken<TDecoder>(int rowBegin, int rowEnd) where TDecoder : ILegacyBlockDecoder
    {
        switch (_path)
        {
            case MatMulKernelPath.Avx512:
                GemvRows.Run<LegacyGemvAvx512.Kernel<TDecoder>, Q8ActivationPanel>(_w, _panel, _y, rowBegin, rowEnd, _following);
                break;
            case MatMulKernelPath.Avx2Vnni:
                GemvRows.Run<LegacyGemvAvx2.Kernel<TDecoder, VnniBlockSums>, Q8ActivationPanel>(_w, _panel, _y, rowBegin, rowEnd, _following);
                break;
            default:
                GemvRows.Run<LegacyGemvAvx2.Kernel<TDecoder, MaddubsBlockSums>, Q8ActivationPanel>(_w, _panel, _y, rowBegin, rowEnd, _following);
                break;
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
}
