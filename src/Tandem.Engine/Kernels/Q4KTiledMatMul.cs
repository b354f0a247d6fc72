using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Kernels;

/// <summary>
/// The body of a matmul with Q4_K weights over a <see cref="Q8KActivationPanel"/>: for batches, where AVX-512 is
/// available, the row tiles (<see cref="RowTiles"/>) of <see cref="Q4KTileAvx512"/> (elsewhere batches run on Q4_K's
/// four-token dot); for one token (batch-1 decode) on AVX-512 or AVX2, the matrix × one-token kernels
/// (<see cref="GemvRows"/> of <see cref="Q4KGemvAvx512"/> or <see cref="Q4KGemvAvx2"/>). Every result is
/// bit-identical to <c>RowQ4_K.Dot</c>. As a team job its items are row tiles; <see cref="Set"/> gives it one matmul
/// at a time.
/// </summary>
internal sealed unsafe class Q4KTiledMatMul : IParallelJob
{
    private readonly MatMulKernelPath _path;
    private readonly NextChunkHint _following;
    private WeightMatrix _w;
    private Q8KActivationPanel _panel;
    private float* _y;

    /// <param name="path">Resolved (see <see cref="LegacyTiledMatMul.Resolve"/>).</param>
    /// <param name="team">The team that runs this job (its next unclaimed tile is where a one-token chunk prefetches into).</param>
    public Q4KTiledMatMul(MatMulKernelPath path, ThreadTeam team)
    {
        _path = path;
        _following = new NextChunkHint(team, RowTiles.TileRows);
    }

    /// <summary>Whether a matmul of <paramref name="tokens"/> tokens runs here on <paramref name="path"/> (else on the dot).</summary>
    public static bool Takes(MatMulKernelPath path, int tokens) =>
        path == MatMulKernelPath.Avx512 || (tokens == 1 && path is MatMulKernelPath.Avx2Vnni or MatMulKernelPath.Avx2);

    /// <summary>The matmul that the next run of this job computes.</summary>
    public void Set(in WeightMatrix w, in Q8KActivationPanel panel, float* y)
    {
        if (w.Type != GgmlType.Q4_K)
            throw new ArgumentException($"{GgmlTypeInfo.Name(w.Type)} weights given to the Q4_K kernels", nameof(w));
        if (!Takes(_path, panel.Tokens))
            throw new ArgumentException($"{panel.Tokens} tokens on the {_path} path have no Q4_K kernel here", nameof(panel));
        _w = w; _panel = panel; _y = y;
    }

    public void Execute(int begin, int end, int worker)
    {
        if (_panel.Tokens > 1)
        {
            RowTiles.Run<Q4KTileAvx512.Kernel, Q8KActivationPanel>(_w, _panel, _y, begin, end);
            return;
        }
        int rowBegin = begin * RowTiles.TileRows, rowEnd = Math.Min(end * RowTiles.TileRows, _w.Rows);
        switch (_path)
        {
            case MatMulKernelPath.Avx512:
                GemvRows.Run<Q4KGemvAvx512.Kernel, Q8KActivationPanel>(_w, _panel, _y, rowBegin, rowEnd, _following);
                break;
            case MatMulKernelPath.Avx2Vnni:
                GemvRows.Run<Q4KGemvAvx2.Kernel<VnniScaledSums>, Q8KActivationPanel>(_w, _panel, _y, rowBegin, rowEnd, _following);
                break;
            default:
                GemvRows.Run<Q4KGemvAvx2.Kernel<MaddScaledSums>, Q8KActivationPanel>(_w, _panel, _y, rowBegin, rowEnd, _following);
                break;
        }
    }
}
