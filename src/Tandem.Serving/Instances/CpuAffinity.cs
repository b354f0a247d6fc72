using System.Runtime.InteropServices;

namespace Tandem.Serving.Instances;

/// <summary>
/// Pins threads to cores so that each instance computes on its own set (DistServe's instances own their
/// devices; here a device is a set of CPU cores). Linux only, through sched_setaffinity on the thread id:
/// elsewhere, or when the kernel refuses (a core outside the container's cpuset), the thread runs unpinned
/// and the caller gets the reason to warn about; it is never an error.
/// </summary>
public static partial class CpuAffinity
{
    private const int MaskWords = 16; // 1024 CPUs, glibc's cpu_set_t

    /// <summary>The cores this process may run on (its main thread's affinity mask on Linux; 0..ProcessorCount-1 elsewhere).</summary>
    public static IReadOnlyList<int> AvailableCores()
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                var mask = new ulong[MaskWords];
                // The process id names the main thread; 0 would name the calling thread, whose mask is one core
                // when it is itself a pinned instance thread.
                if (sched_getaffinity(Environment.ProcessId, MaskWords * 8, mask) == 0)
                {
                    var cores = new List<int>();
                    for (int i = 0; i < MaskWords * 64; i++)
                        if ((mask[i / 64] >> (i % 64) & 1) != 0) cores.Add(i);
                    if (cores.Count > 0) return cores;
                }
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        }
        return Enumerable.Range(0, Environment.ProcessorCount).ToArray();
    }

    /// <summary>Pins the calling thread to <paramref name="core"/>; returns null on success or why it could not.</summary>
    public static string? TryPinCurrentThread(int core)
    {
        if (!OperatingSystem.IsLinux()) return $"thread pinning is implemented for Linux only (running on {RuntimeInformation.OSDescription})";
        if (core < 0 || core >= MaskWords * 64) return $"core {core} is outside the supported range 0..{MaskWords * 64 - 1}";
        try
        {
            var mask = new ulong[MaskWords];
            mask[core / 64] = 1UL << (core % 64);
            int tid = CurrentThreadId();
            if (sched_setaffinity(tid, MaskWords * 8, mask) != 0)
                return $"sched_setaffinity(core {core}) failed with errno {Marshal.GetLastPInvokeError()}";
            return null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return $"thread pinning unavailable: {e.Message}";
        }
    }

    /// <summary>The calling thread's kernel id (what sched_setaffinity and setpriority take).</summary>
    internal static int CurrentThreadId()
    {
        try
        {
            return gettid();
        }
        catch (EntryPointNotFoundException)
        {
            // glibc before 2.30 has no gettid wrapper: ask the kernel directly.
            long nr = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 178 : 186;
            return (int)syscall(nr);
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setaffinity(int pid, nint cpusetsize, ulong[] mask);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_getaffinity(int pid, nint cpusetsize, [Out] ulong[] mask);

    [LibraryImport("libc")]
    private static partial int gettid();

    [LibraryImport("libc")]
    private static partial long syscall(long number);
}
