using Tandem.Engine.Quantization;

namespace Tandem.Engine.Kernels;

/// <summary>
/// The loop around a matrix × one-token kernel (<see cref="IGemvKernel{TPanel}"/>): a job's rows in groups of the
/// kernel's width, the next group prefetched while this one runs (as <see cref="RowTiles"/> does for its tiles:
/// a group reads its rows side by side, streams too short for the hardware prefetcher to learn), the results
/// copied into y. The kernel's results are bit-identical to the single-pair dot, so nothing depends on the grouping.
/// </summary>
internal static unsafe class GemvRows
{
    /// <summary>y[r] for rows <paramref name="rowBegin"/>..<paramref name="rowEnd"/> of <paramref name="w"/> against the panel's one token.</summary>
    public static void Run<TKernel, TPanel>(in WeightMatrix w, in TPanel panel, float* y, int rowBegin, int rowEnd)
        where TKernel : IGemvKernel<TPanel>
        where TPanel : struct, IActivationPanel
    {
        int groupRows = TKernel.MaxRows;
        float* results = stackalloc float[groupRows];
        long rowBytes = w.RowBytes;
        for (int r0 = rowBegin; r0 < rowEnd; r0 += groupRows)
        {
            int count = Math.Min(groupRows, rowEnd - r0);
            byte* w0 = w.Data + r0 * rowBytes;
            int next = Math.Min(groupRows, rowEnd - r0 - count);
            if (next > 0) RowTiles.Prefetch(w0 + count * rowBytes, next * rowBytes);
            TKernel.Run(count, w0, rowBytes, panel, results);
            for (int k = 0; k < count; k++)
                y[r0 + k] = results[k];
        }
    }
}
