using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Tandem.Engine.KvCache;

/// <summary>
/// Measures what reading one block back from the disk tier costs when it is not in the OS page cache: a block-sized
/// file is written and synced, dropped from the page cache (posix_fadvise DONTNEED, which needs no privileges), then
/// read back and timed; the median of a few trials. Where the page cache cannot be dropped (not Linux) the figure is a
/// warm read, and <see cref="Cold"/> says so.
/// </summary>
public static partial class KvDiskColdRead
{
    private const int PosixFadvDontNeed = 4;

    public readonly record struct Result(double Seconds, bool Cold);

    public static Result Measure(string directory, int fileBytes, int trials = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(trials, 1);
        string path = Path.Combine(directory, $".probe-{Environment.ProcessId}.tmp");
        var data = new byte[fileBytes];
        Random.Shared.NextBytes(data);
        var times = new double[trials];
        bool cold = true;
        try
        {
            for (int t = 0; t < trials; t++)
            {
                using (var w = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read))
                {
                    w.Write(data);
                    w.Flush(flushToDisk: true); // dirty pages cannot be dropped
                    cold &= DropFromPageCache(w);
                }
                long start = Stopwatch.GetTimestamp();
                using (var h = File.OpenHandle(path))
                    for (int done = 0; done < data.Length;)
                    {
                        int n = RandomAccess.Read(h, data.AsSpan(done), done);
                        if (n <= 0) break;
                        done += n;
                    }
                times[t] = Stopwatch.GetElapsedTime(start).TotalSeconds;
            }
        }
        finally
        {
            try { File.Delete(path); } catch (IOException) { }
        }
        Array.Sort(times);
        return new Result(times[trials / 2], cold);
    }

    private static bool DropFromPageCache(FileStream file)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return PosixFadvise((int)file.SafeFileHandle.DangerousGetHandle(), 0, 0, PosixFadvDontNeed) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int PosixFadvise(int fd, long offset, long length, int advice);
}
