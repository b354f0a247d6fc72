using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Kernels;

/// <summary>
/// The body of a matmul whose weights are Q4_0, Q5_0 or Q8_0 (all dotted with Q8_0 activations): the row tiles
/// (<see cref="RowTiles"/>) of the micro-kernel of the chosen path (<see cref="LegacyTileAvx512"/>,
/// <see cref="LegacyTileAvx2"/>, <see cref="LegacyTilePortable"/>) over a <see cref="Q8ActivationPanel"/>.
/// Its items are row tiles; <see cref="SetPanel"/> gives it the activations of one matmul at a time, which may cover
/// several matrices of these types (<see cref="MatMulParts"/>).
/// </summary>
internal sealed unsafe class LegacyTiledMatMul : IPanelMatMulBody<Q8ActivationPanel>
{
    private readonly MatMulKernelPath _path;
    private Q8ActivationPanel _panel;

    /// <param name="path">Resolved (see <see cref="Resolve"/>).</param>
    public LegacyTiledMatMul(MatMulKernelPath path) => _path = path;

    public void SetPanel(in Q8ActivationPanel panel) => _panel = panel;

    /// <summary>Whether <paramref name="type"/>'s weights are dotted with Q8_0 activations, i.e. run on these kernels.</summary>
    public static bool Handles(GgmlType type) => type is GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q8_0;

    public int Items(in WeightMatrix w)
    {
        if (!Handles(w.Type))
            throw new ArgumentException($"{GgmlTypeInfo.Name(w.Type)} weights are not dotted with Q8_0 activations", nameof(w));
        return RowTiles.Count(w.Rows);
    }

    public void Execute(in WeightMatrix w, float* y, int begin, int end, int worker)
    {
        switch (w.Type)
        {
            case GgmlType.Q4_0: Rows<RowQ4_0.Q4_0Block>(w, y, begin, end); break;
            case GgmlType.Q5_0: Rows<RowQ5_0.Q5_0Block>(w, y, begin, end); break;
            default: Rows<RowQ8_0.Q8_0Block>(w, y, begin, end); break;
        }
    }

    private void Rows<TDecoder>(in WeightMatrix w, float* y, int begin, int end) where TDecoder : ILegacyBlockDecoder
    {
        switch (_path)
        {
            case MatMulKernelPath.Avx512:
                RowTiles.Run<LegacyTileAvx512.Kernel<TDecoder>, Q8ActivationPanel>(w, _panel, y, begin, end);
                break;
            case MatMulKernelPath.Avx2Vnni:
                RowTiles.Run<LegacyTileAvx2.Kernel<TDecoder, VnniBlockSums>, Q8ActivationPanel>(w, _panel, y, begin, end);
                break;
            case MatMulKernelPath.Avx2:
                RowTiles.Run<LegacyTileAvx2.Kernel<TDecoder, MaddubsBlockSums>, Q8ActivationPanel>(w, _panel, y, begin, end);
                break;
            default:
                RowTiles.Run<LegacyTilePortable.Kernel<TDecoder>, Q8ActivationPanel>(w, _panel, y, begin, end);
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
