using System.Buffers.Text;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Tandem.Serving.Instances;

/// <summary>
/// What one thread got of the CPU, read without allocating: its CPU time (CLOCK_THREAD_CPUTIME_ID, calling thread only)
/// and the time it waited on a run queue, runnable but without a core (the second field of Linux's
/// /proc/thread-self/schedstat: what Kestrel, the client or the GC took from it). Linux only; elsewhere, or where procfs
/// refuses, <see cref="Open"/> returns null and <see cref="CpuNanoseconds"/> -1.
/// </summary>
internal sealed unsafe partial class ThreadClock : IDisposable
{
    private const int ClockThreadCpuTime = 3;
    private readonly SafeFileHandle _schedstat;

    private ThreadClock(SafeFileHandle schedstat) => _schedstat = schedstat;

    /// <summary>The calling thread's clock (its schedstat file stays its own when read from other threads later).</summary>
    public static ThreadClock? Open()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            var handle = File.OpenHandle("/proc/thread-self/schedstat", FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var clock = new ThreadClock(handle);
            if (clock.RunQueueNanoseconds() >= 0) return clock;
            clock.Dispose();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException) { }
        return null;
    }

    /// <summary>Nanoseconds the thread has waited on a run queue since it started, or -1 when the file reads wrong.</summary>
    public long RunQueueNanoseconds()
    {
        Span<byte> text = stackalloc byte[128];
        int n;
        try
        {
            n = RandomAccess.Read(_schedstat, text, 0);
        }
        catch (Exception e) when (e is IOException or NotSupportedException)
        {
            return -1; // the thread exited
        }
        // "<cpu ns> <run-queue ns> <time slices>\n"
        var line = text[..n];
        int space = line.IndexOf((byte)' ');
        if (space < 0) return -1;
        return Utf8Parser.TryParse(line[(space + 1)..], out long waited, out _) ? waited : -1;
    }

    /// <summary>The calling thread's CPU time in nanoseconds, or -1 off Linux.</summary>
    public static long CpuNanoseconds()
    {
        if (!OperatingSystem.IsLinux()) return -1;
        Timespec ts;
        return clock_gettime(ClockThreadCpuTime, &ts) == 0 ? ts.Seconds * 1_000_000_000 + ts.Nanoseconds : -1;
    }

    public void Dispose() => _schedstat.Dispose();

    [LibraryImport("libc")]
    private static partial int clock_gettime(int clock, Timespec* time);

    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
