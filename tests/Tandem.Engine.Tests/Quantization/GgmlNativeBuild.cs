using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Tandem.Engine.Tests.Quantization;

/// <summary>
/// One CPU build of ggml that LLamaSharp.Backend.Cpu ships (copied beside the tests under
/// runtimes/linux-x64/native/&lt;variant&gt;: libggml-base and libggml-cpu), loaded so that the oracle tests can
/// call llama.cpp's own kernels. Where this machine cannot run a build (another OS or architecture, or a CPU
/// that .NET reports without the instructions the build uses), <see cref="Require"/> reports the calling test
/// as skipped with that reason: returning early would count it as passed while it checked nothing. A build
/// that this machine should run but that does not load (files missing, a broken library) fails the test.
/// </summary>
internal sealed unsafe class GgmlNativeBuild
{
    private static readonly Dictionary<string, GgmlNativeBuild> Loaded = [];

    private readonly nint _base, _cpu;

    private GgmlNativeBuild(nint baseLib, nint cpuLib)
    {
        _base = baseLib;
        _cpu = cpuLib;
    }

    /// <summary>An export of libggml-base (reference quantisers and dequantisers).</summary>
    public nint BaseExport(string name) => NativeLibrary.GetExport(_base, name);

    /// <summary>An export of libggml-cpu (the CPU backend's SIMD kernels).</summary>
    public nint CpuExport(string name) => NativeLibrary.GetExport(_cpu, name);

    /// <summary>Why this machine cannot run <paramref name="variant"/> (avx2, avx512: the folder the build comes from), or null when it can.</summary>
    public static string? WhyUnavailable(string variant)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            return $"the ggml oracle libraries are linux-x64 builds; this is {RuntimeInformation.OSDescription} on {RuntimeInformation.ProcessArchitecture}";
        return variant switch
        {
            "avx2" => Avx2.IsSupported && Fma.IsSupported
                ? null
                : "ggml's avx2 build needs AVX2 and FMA, which .NET reports unavailable (not on this CPU, or disabled by DOTNET_EnableAVX2=0)",
            // The build's zmm code uses AVX-512 F, BW (vpmaddubsw, vmovdqu16) and DQ (vinserti32x8) and nothing newer.
            "avx512" => Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported
                ? null
                : "ggml's avx512 build needs AVX-512 F, BW and DQ, which .NET reports unavailable (not on this CPU, or disabled by DOTNET_EnableAVX512=0)",
            _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, "LLamaSharp's x64 builds used here are avx2 and avx512"),
        };
    }

    /// <summary>
    /// The build, loaded once per process; or, where this machine cannot run it, the calling test is reported as
    /// skipped with the reason (it must be a <c>[SkippableFact]</c> or <c>[SkippableTheory]</c>).
    /// </summary>
    public static GgmlNativeBuild Require(string variant)
    {
        string? whyNot = WhyUnavailable(variant);
        Skip.If(whyNot is not null, whyNot);
        lock (Loaded)
        {
            if (!Loaded.TryGetValue(variant, out var build))
            {
                string dir = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", variant);
                // Loading base first lets the cpu library's NEEDED entry resolve to it.
                nint baseLib = NativeLibrary.Load(Path.Combine(dir, "libggml-base.so"));
                nint cpuLib = NativeLibrary.Load(Path.Combine(dir, "libggml-cpu.so"));
                ((delegate* unmanaged<void>)NativeLibrary.GetExport(cpuLib, "ggml_cpu_init"))();
                Loaded[variant] = build = new GgmlNativeBuild(baseLib, cpuLib);
            }
            return build;
        }
    }
}
