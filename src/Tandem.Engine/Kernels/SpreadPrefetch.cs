using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Tandem.Engine.Kernels;

/// <summary>
/// Asks for a span of memory a few cache lines per step of a kernel's loop, so that the fetch of the next rows runs
/// beside the work on these. <see cref="RowTiles.Prefetch"/> asks for a whole group of rows at once; at the
/// TinyLlama-1.1B shape (rows of 2048 columns) a matrix × one-token kernel's next group is 8–17 KB, and a burst of
/// that many prefetches fills the core's miss buffers and then stalls it until the group has arrived: fetch and work
/// took turns instead of overlapping.
/// </summary>
internal unsafe struct SpreadPrefetch
{
    private byte* _next;
    private readonly byte* _end;
    private readonly int _linesPerStep;

    /// <param name="start">First byte to fetch.</param>
    /// <param name="bytes">Bytes to fetch; zero or less for none.</param>
    /// <param name="steps">Calls to <see cref="Step"/> the fetch is spread over (the kernel's loop count).</param>
    public SpreadPrefetch(byte* start, long bytes, int steps) : this(LinesPerStep(bytes, steps), start, bytes) { }

    /// <summary>
    /// As the constructor, with the share per step given (<see cref="LinesPerStep"/>), so that a loop starting many
    /// spans of one size (<see cref="GemvRows"/>: one per row group) computes it once, not with a 64-bit division per span.
    /// </summary>
    public static SpreadPrefetch WithShare(byte* start, long bytes, int linesPerStep) => new(linesPerStep, start, bytes);

    private SpreadPrefetch(int linesPerStep, byte* start, long bytes)
    {
        _next = start;
        _end = bytes > 0 ? start + bytes : start;
        _linesPerStep = linesPerStep;
    }

    /// <summary>Cache lines per step that fetch <paramref name="bytes"/> over <paramref name="steps"/> steps (at least one).</summary>
    public static int LinesPerStep(long bytes, int steps)
    {
        long lines = (Math.Max(0, bytes) + 63) / 64;
        return (int)Math.Max(1, (lines + Math.Max(1, steps) - 1) / Math.Max(1, steps));
    }

    /// <summary>The next share of the span (nothing once it is all asked for, or without SSE).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Step()
    {
        if (!Sse.IsSupported) return;
        for (int i = 0; i < _linesPerStep && _next < _end; i++)
        {
            Sse.Prefetch0(_next);
            _next += 64;
        }
    }
}
