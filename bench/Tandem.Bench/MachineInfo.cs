using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tandem.Bench;

/// <summary>
/// What a figure needs beside it to mean anything on a shared machine: the CPU model, the instruction set the
/// process actually uses (.NET's view, which DOTNET_EnableAVX512=0 and the like change), the CPU's own
/// feature flags and the load average. Linux's /proc is read where present; elsewhere the fields say unknown.
/// </summary>
public static class MachineInfo
{
    /// <summary>The feature flags from /proc/cpuinfo worth naming for these kernels, in this order.</summary>
    private static readonly string[] NotableFlags =
        ["avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_int8"];

    public static string CpuModel => CpuInfoLines().FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))
        ?.Split(':', 2)[1].Trim() ?? "unknown";

    /// <summary>The notable flags the CPU reports, space-separated ("unknown" without /proc/cpuinfo).</summary>
    public static string CpuFlags
    {
        get
        {
            var line = CpuInfoLines().FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
            if (line is null) return "unknown";
            var flags = line.Split(':', 2)[1].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
            return string.Join(' ', NotableFlags.Where(flags.Contains));
        }
    }

    /// <summary>The widest x86 vector path .NET uses in this process: what Tandem's kernels run on.</summary>
    public static string DotnetIsa =>
        Avx512F.IsSupported && Vector512.IsHardwareAccelerated ? "AVX-512" + (Avx512Vbmi.IsSupported ? " (VBMI)" : "")
        : Avx2.IsSupported ? "AVX2" + (Fma.IsSupported ? "+FMA" : "")
        : Vector128.IsHardwareAccelerated ? "Vector128"
        : "scalar";

    /// <summary>The 1, 5 and 15 minute load averages, as uptime prints them.</summary>
    public static string LoadAverage =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private static IEnumerable<string> CpuInfoLines() =>
        File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo") : [];
}
