namespace Tandem.Engine.Quantization;

/// <summary>
/// A matrix × one-token micro-kernel (batch-1 decode): up to <see cref="MaxRows"/> consecutive weight rows against
/// the single token of a panel, each row with its own accumulators so that several rows' loads and FMA chains are in
/// flight at once (a one-row dot waits on one FMA chain per block). Writes row k's result to <c>results[k]</c> for
/// k &lt; <c>rows</c>; each must be bit-identical to the weight type's single-pair <c>Dot</c>.
/// A type, so that the row loop (<c>GemvRows</c>) is compiled once per kernel with the call inlined.
/// </summary>
internal unsafe interface IGemvKernel<TPanel> where TPanel : struct, IActivationPanel
{
    /// <summary>Rows one call takes.</summary>
    static abstract int MaxRows { get; }

    /// <param name="rows">1..<see cref="MaxRows"/> rows starting at <paramref name="w0"/>, <paramref name="rowBytes"/> apart.</param>
    /// <param name="next">The next group's rows, to be fetched a share per step of the kernel's loop while it works on these.</param>
    static abstract void Run(int rows, byte* w0, long rowBytes, in TPanel panel, float* results, Kernels.SpreadPrefetch next);

    /// <summary>Steps of the kernel's loop over <paramref name="cols"/> columns (what <see cref="Kernels.SpreadPrefetch"/> spreads its fetch over).</summary>
    static abstract int Steps(int cols);
}
