using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Kernels;

/// <summary>
/// The body of a matmul with Q4_K weights where AVX-512 is available: the row tiles (<see cref="RowTiles"/>) of
/// <see cref="Q4KTileAvx512"/> over a <see cref="Q8KActivationPanel"/>. Elsewhere Q4_K runs on its four-token dot.
/// As a team job its items are row tiles; <see cref="Set"/> gives it one matmul at a time.
/// </summary>
internal sealed unsafe class Q4KTiledMatMul : IParallelJob
{
    private WeightMatrix _w;
    private Q8KActivationPanel _panel;
    private float* _y;

    /// <summary>The matmul that the next run of this job computes.</summary>
    public void Set(in WeightMatrix w, in Q8KActivationPanel panel, float* y)
    {
        if (w.Type != GgmlType.Q4_K)
            throw new ArgumentException($"{GgmlTypeInfo.Name(w.Type)} weights given to the Q4_K kernels", nameof(w));
        _w = w; _panel = panel; _y = y;
    }

    public void Execute(int begin, int end, int worker) =>
        RowTiles.Run<Q4KTileAvx512.Kernel, Q8KActivationPanel>(_w, _panel, _y, begin, end);
}
