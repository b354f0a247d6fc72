using System.Runtime.InteropServices;

namespace Tandem.Serving.Instances;

/// <summary>
/// Sets the calling thread's nice value (Linux: setpriority on the thread id), so that an instance's threads can be
/// favoured over the rest of the process and the machine — Kestrel, the streaming writes, the GC, a load generator —
/// when they share cores. A value below the current one needs CAP_SYS_NICE (or RLIMIT_NICE); without it, or off Linux,
/// the thread keeps its priority and the caller gets the reason to warn about; it is never an error.
/// </summary>
public static partial class ThreadNice
{
    private const int PrioProcess = 0;

    /// <summary>Sets the calling thread's nice value (-20 highest … 19 lowest); null on success, else why it could not.</summary>
    public static string? TrySet(int nice)
    {
        if (nice is < -20 or > 19) return $"nice {nice} is outside -20..19";
        if (!OperatingSystem.IsLinux()) return $"thread priorities are implemented for Linux only (running on {RuntimeInformation.OSDescription})";
        try
        {
            if (setpriority(PrioProcess, CpuAffinity.CurrentThreadId(), nice) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                return errno is 1 or 13
                    ? $"setpriority(nice {nice}) was refused (errno {errno}): raising a priority needs CAP_SYS_NICE or a higher RLIMIT_NICE"
                    : $"setpriority(nice {nice}) failed with errno {errno}";
            }
            return null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return $"thread priorities unavailable: {e.Message}";
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setpriority(int which, int who, int prio);
}
