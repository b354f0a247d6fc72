namespace Tandem.Bench;

/// <summary>
/// This process's peak resident memory (Linux VmHWM: anonymous memory plus the pages of mapped files it touched, so
/// the weights of a memory-mapped model count once they are read), and a reset of that peak, so that one process can
/// report a peak per model it loads in turn. The reset (writing 5 to /proc/self/clear_refs, Linux 4.0+) sets the peak to
/// the memory resident at that moment, so whatever the process still holds (the .NET runtime, JIT-compiled code, a
/// previous model not yet collected) stays in the next figure: <see cref="Reset"/> collects garbage first.
/// </summary>
public static class PeakResidentMemory
{
    private const string Status = "/proc/self/status";
    private const string ClearRefs = "/proc/self/clear_refs";

    /// <summary>Peak resident bytes since the process started or the last successful <see cref="Reset"/>; null where unknown.</summary>
    public static long? Read()
    {
        if (!File.Exists(Status)) return null;
        foreach (var line in File.ReadLines(Status))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(':', 2)[1].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024; // "VmHWM:  123456 kB"
        return null;
    }

    /// <summary>Collects garbage, then resets the peak to the current resident memory; false where the OS does not allow it.</summary>
    public static bool Reset()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        try
        {
            // Opened for writing without truncation: it is a control file, not a regular one.
            using var control = new FileStream(ClearRefs, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
            control.Write("5"u8);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
