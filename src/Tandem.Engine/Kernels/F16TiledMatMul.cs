using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Kernels;

/// <summary>
/// The body of a batch-invariant matmul with F16 weights: each weight row against groups of tokens from an
/// <see cref="F16ActivationPanel"/> through <see cref="F16TileAvx512"/> (six tokens) or <see cref="F16TileAvx2"/>
/// (three), chosen by ggml's SIMD width because that width fixes the summation order the results must follow
/// (<see cref="GgmlFloatDot.VecDotF16"/>). Every (row, token) result is bit-identical to <c>RowF16.Dot</c>.
/// As a team job its items are weight rows; <see cref="Set"/> gives it one matmul at a time.
/// </summary>
internal sealed unsafe class F16TiledMatMul : IParallelJob
{
    /// <summary>False where ggml has no vector F16 dot for this machine (then the four-token kernel runs).</summary>
    public static bool IsSupported => GgmlSimd.Width is 16 or 8;

    private const int MaxTokensPerTile = 6;

    private WeightMatrix _w;
    private F16ActivationPanel _panel;
    private float* _y;

    /// <summary>The matmul that the next run of this job computes.</summary>
    public void Set(in WeightMatrix w, in F16ActivationPanel panel, float* y)
    {
        if (w.Type != GgmlType.F16)
            throw new ArgumentException($"{GgmlTypeInfo.Name(w.Type)} weights given to the F16 kernels", nameof(w));
        _w = w; _panel = panel; _y = y;
    }

    public void Execute(int begin, int end, int worker) => Rows(_w, _panel, _y, begin, end);

    /// <summary>y[t × w.Rows + r] for rows <paramref name="rowBegin"/>..<paramref name="rowEnd"/> and every token of the panel.</summary>
    private static void Rows(in WeightMatrix w, in F16ActivationPanel panel, float* y, int rowBegin, int rowEnd)
    {
        float* results = stackalloc float[MaxTokensPerTile];
        int rows = w.Rows, tokens = panel.Tokens;
        int perTile = GgmlSimd.Width == 16 ? 6 : 3;
        int vectorEnd = F16ActivationPanel.VectorEnd(panel.Cols);
        // Token groups outside, rows inside: a group's widened activations (6 × 4 bytes per column) stay in L1
        // while the job's rows stream past, each F16 weight vector feeding one FMA per token. The other order
        // re-read every activation from L2 for every row (one 64-byte load per FMA) and ran at half the speed.
        for (int t = 0; t < tokens; t += perTile)
        {
            int count = Math.Min(perTile, tokens - t);
            for (int r = rowBegin; r < rowEnd; r++)
            {
                ushort* wr = (ushort*)(w.Data + r * w.RowBytes);
                bool rowSpecial = Kernel(count, wr, panel, t, results);
                for (int k = 0; k < count; k++)
                    y[(long)(t + k) * rows + r] = GgmlFloatDot.FinishWidened(wr, panel.Row(t + k), panel.Cols, vectorEnd,
                        rowSpecial || panel.HasSpecial(t + k), results[k]);
            }
        }
    }

    private static bool Kernel(int count, ushort* w, in F16ActivationPanel panel, int t0, float* results)
    {
        if (GgmlSimd.Width == 16)
            return count switch
            {
                6 => F16TileAvx512.Tile<Count6>(w, panel, t0, results),
                5 => F16TileAvx512.Tile<Count5>(w, panel, t0, results),
                4 => F16TileAvx512.Tile<Count4>(w, panel, t0, results),
                3 => F16TileAvx512.Tile<Count3>(w, panel, t0, results),
                2 => F16TileAvx512.Tile<Count2>(w, panel, t0, results),
                _ => F16TileAvx512.Tile<Count1>(w, panel, t0, results),
            };
        return count switch
        {
            3 => F16TileAvx2.Tile<Count3>(w, panel, t0, results),
            2 => F16TileAvx2.Tile<Count2>(w, panel, t0, results),
            _ => F16TileAvx2.Tile<Count1>(w, panel, t0, results),
        };
    }
}
