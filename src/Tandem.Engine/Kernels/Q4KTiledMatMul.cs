using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Kernels;

/// <summary>
/// The body of a matmul with Q4_K weights where AVX-512 is available: the row tiles (<see cref="RowTiles"/>) of
/// <see cref="Q4KTileAvx512"/> over a <see cref="Q8KActivationPanel"/>. Elsewhere Q4_K runs on its four-token dot.
/// Its items are row tiles; <see cref="SetPanel"/> gives it the activations of one matmul at a time.
/// </summary>
internal sealed unsafe class Q4KTiledMatMul : IPanelMatMulBody<Q8KActivationPanel>
{
    private Q8KActivationPanel _panel;

    public void SetPanel(in Q8KActivationPanel panel) => _panel = panel;

    public int Items(in WeightMatrix w)
    {
        if (w.Type != GgmlType.Q4_K)
            throw new ArgumentException($"{GgmlTypeInfo.Name(w.Type)} weights given to the Q4_K kernels", nameof(w));
        return RowTiles.Count(w.Rows);
    }

    public void Execute(in WeightMatrix w, float* y, int begin, int end, int worker) =>
        RowTiles.Run<Q4KTileAvx512.Kernel, Q8KActivationPanel>(w, _panel, y, begin, end);
}
