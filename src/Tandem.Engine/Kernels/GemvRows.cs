using Tandem.Engine.Quantization;

namespace Tandem.Engine.Kernels;

/// <summary>
/// The loop around a matrix × one-token kernel (<see cref="IGemvKernel{TPanel}"/>): a job's rows in groups of the
/// kernel's width, the results copied into y. A group reads its rows side by side, streams too short for the hardware
/// prefetcher to learn, so each group's kernel also fetches the next group, a few cache lines per step of its loop
/// (<see cref="SpreadPrefetch"/>). The whole next group asked for at once before the kernel (as <see cref="RowTiles"/>
/// does for its tiles) stalled the core on the burst at the TinyLlama-1.1B shape: kernel bench, 32000 × 2048,
/// one thread, out of cache, Q8_0 1.25–1.42 → 0.82–0.97 ns per 32 products, F16 2.03–2.17 → 1.66–1.84.
/// The last group of a job's chunk fetches the first group of the chunk its thread will probably claim next
/// (<see cref="NextChunkHint"/>). The kernel's results are bit-identical to the single-pair dot, so nothing depends on
/// the grouping.
/// </summary>
internal static unsafe class GemvRows
{
    /// <summary>y[r] for rows <paramref name="rowBegin"/>..<paramref name="rowEnd"/> of <paramref name="w"/> against the panel's one token.</summary>
    /// <param name="following">Where this thread's next chunk of the job probably starts (default: nowhere).</param>
    public static void Run<TKernel, TPanel>(in WeightMatrix w, in TPanel panel, float* y, int rowBegin, int rowEnd,
        NextChunkHint following = default)
        where TKernel : IGemvKernel<TPanel>
        where TPanel : struct, IActivationPanel
    {
        int groupRows = TKernel.MaxRows;
        float* results = stackalloc float[groupRows];
        long rowBytes = w.RowBytes;
        // Every group's fetch uses a whole group's share per step; a shorter next group is just fetched sooner.
        int linesPerStep = SpreadPrefetch.LinesPerStep(groupRows * rowBytes, TKernel.Steps(w.Cols));
        for (int r0 = rowBegin; r0 < rowEnd; r0 += groupRows)
        {
            int count = Math.Min(groupRows, rowEnd - r0);
            byte* w0 = w.Data + r0 * rowBytes;
            byte* nextStart = w0 + count * rowBytes;
            int next = Math.Min(groupRows, rowEnd - r0 - count);
            if (next == 0 && following.FirstRow(w.Rows) is var row and >= 0)
            {
                nextStart = w.Data + row * rowBytes;
                next = Math.Min(groupRows, w.Rows - row);
            }
            TKernel.Run(count, w0, rowBytes, panel, results, SpreadPrefetch.WithShare(nextStart, next * rowBytes, linesPerStep));
            for (int k = 0; k < count; k++)
                y[r0 + k] = results[k];
        }
    }
}
