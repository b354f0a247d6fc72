using System.Runtime.InteropServices;

namespace Tandem.Engine.Gguf;

/// <summary>
/// Anonymous memory aligned to 2 MB and advised to the kernel as wanting transparent huge pages (Linux
/// <c>madvise(MADV_HUGEPAGE)</c>): what <see cref="WeightPlacement.HugePages"/> copies a model's tensors into.
/// Written by hand because .NET has no API for memory advice; the allocation itself is <see cref="NativeMemory"/>'s.
/// </summary>
public sealed unsafe partial class HugePageMemory : IDisposable
{
    /// <summary>The huge page size the alignment and length are rounded to (x86-64 and Arm64 with 4 KB base pages).</summary>
    public const long HugePageBytes = 2L << 20;

    private const int MadvHugePage = 14; // MADV_HUGEPAGE in <asm-generic/mman-common.h>, the same on x86-64 and Arm64

    /// <summary>Where the kernel says whether transparent huge pages are on: "always [madvise] never", the choice in brackets.</summary>
    public const string SettingPath = "/sys/kernel/mm/transparent_hugepage/enabled";

    public byte* Pointer { get; private set; }

    /// <summary>Bytes allocated: the requested length rounded up to whole huge pages.</summary>
    public long Length { get; }

    /// <summary>Whether the kernel took the advice (false: it runs on base pages, correct but without the gain).</summary>
    public bool Advised { get; }

    /// <summary>Allocates <paramref name="bytes"/> (rounded up to whole huge pages), advised for huge pages on Linux.</summary>
    public HugePageMemory(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        Length = (bytes + HugePageBytes - 1) & ~(HugePageBytes - 1);
        Pointer = (byte*)NativeMemory.AlignedAlloc((nuint)Length, (nuint)HugePageBytes);
        // Advised before the first touch: the pages are faulted in as huge pages as the copy writes them.
        Advised = OperatingSystem.IsLinux() && madvise(Pointer, (nuint)Length, MadvHugePage) == 0;
    }

    /// <summary>
    /// Whether advised memory gets huge pages here: Linux with <see cref="SettingPath"/> set to "always" or "madvise".
    /// </summary>
    public static bool Available => OperatingSystem.IsLinux() && SettingAllows(ReadSetting(SettingPath));

    /// <summary>Whether a <see cref="SettingPath"/> text lets advised memory have huge pages (its bracketed choice is not "never").</summary>
    public static bool SettingAllows(string? setting) =>
        setting is not null && (setting.Contains("[always]", StringComparison.Ordinal) || setting.Contains("[madvise]", StringComparison.Ordinal));

    private static string? ReadSetting(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    public void Dispose()
    {
        if (Pointer == null) return;
        NativeMemory.AlignedFree(Pointer);
        Pointer = null;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(void* address, nuint length, int advice);
}
