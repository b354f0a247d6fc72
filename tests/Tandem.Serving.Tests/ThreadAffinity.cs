using System.Runtime.InteropServices;

namespace Tandem.Serving.Tests;

/// <summary>
/// Reads threads' CPU affinity back from the kernel (sched_getaffinity), independently of the code under test,
/// and lists this process's threads with the names the kernel keeps for them. Linux only.
/// </summary>
internal static partial class ThreadAffinity
{
    private const int MaskWords = 16; // 1024 CPUs, glibc's cpu_set_t

    /// <summary>The cores thread <paramref name="tid"/> of this process may run on (0: the calling thread).</summary>
    public static int[] Of(int tid)
    {
        var mask = new ulong[MaskWords];
        int rc = sched_getaffinity(tid, MaskWords * 8, mask);
        Assert.True(rc == 0, $"sched_getaffinity({tid}) failed with errno {Marshal.GetLastPInvokeError()}");
        return Enumerable.Range(0, MaskWords * 64).Where(i => (mask[i / 64] >> (i % 64) & 1) != 0).ToArray();
    }

    /// <summary>This process's threads: kernel thread id and name (.NET passes Thread.Name on, cut to 15 bytes).</summary>
    public static Dictionary<int, string> Threads()
    {
        var threads = new Dictionary<int, string>();
        foreach (string dir in Directory.GetDirectories("/proc/self/task"))
        {
            try
            {
                threads[int.Parse(Path.GetFileName(dir))] = File.ReadAllText(Path.Combine(dir, "comm")).TrimEnd('\n');
            }
            catch (IOException)
            {
                // the thread ended between the listing and the read
            }
        }
        return threads;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_getaffinity(int pid, nint cpusetsize, [Out] ulong[] mask);
}
