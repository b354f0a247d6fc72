using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Kernels;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Tests.Quantization;

/// <summary>
/// <see cref="GgmlFloatDot"/>'s single-row dots against <c>ggml_vec_dot_f32</c> / <c>ggml_vec_dot_f16</c> of the
/// LLamaSharp build that llama.cpp runs on this CPU (avx512 or avx2, as <see cref="GgmlSimd.Width"/> says), bit
/// for bit, over lengths that exercise every part: whole 4-vector steps, the vectorised tail and the fused tail.
/// </summary>
public unsafe class GgmlFloatDotOracleTests
{
    private static readonly nint Cpu = Load();

    private static nint Load()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64 || GgmlSimd.Width == 0)
            return 0;
        string dir = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", GgmlSimd.Width == 16 ? "avx512" : "avx2");
        NativeLibrary.Load(Path.Combine(dir, "libggml-base.so"));
        nint cpu = NativeLibrary.Load(Path.Combine(dir, "libggml-cpu.so"));
        ((delegate* unmanaged<void>)NativeLibrary.GetExport(cpu, "ggml_cpu_init"))();
        return cpu;
    }

    public static TheoryData<int> Lengths() => [1, 3, 4, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 40, 47, 63, 64, 65, 72, 80, 88, 100, 127, 128, 129, 200, 256, 1000];

    [Fact]
    public void TheNativeBuildLoadsWhereItShould()
    {
        if (OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64 && (Avx512F.IsSupported || Avx2.IsSupported))
            Assert.NotEqual(0, Cpu);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void F32DotMatchesGgmlVecDotF32(int n)
    {
        if (Cpu == 0) return;
        var f = (delegate* unmanaged<int, float*, nuint, float*, nuint, float*, nuint, int, void>)NativeLibrary.GetExport(Cpu, "ggml_vec_dot_f32");
        var rng = new Random(n);
        for (int trial = 0; trial < 20; trial++)
        {
            float[] x = Row(rng, n), y = Row(rng, n);
            float theirs;
            fixed (float* px = x, py = y)
                f(n, &theirs, 0, px, 0, py, 0, 1);
            Assert.Equal(BitConverter.SingleToInt32Bits(theirs), BitConverter.SingleToInt32Bits(GgmlFloatDot.VecDotF32(x, y)));
        }
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void F16DotMatchesGgmlVecDotF16(int n)
    {
        if (Cpu == 0) return;
        var f = (delegate* unmanaged<int, float*, nuint, ushort*, nuint, ushort*, nuint, int, void>)NativeLibrary.GetExport(Cpu, "ggml_vec_dot_f16");
        var rng = new Random(1000 + n);
        for (int trial = 0; trial < 20; trial++)
        {
            ushort[] x = Halves(Row(rng, n)), y = Halves(Row(rng, n));
            float theirs;
            fixed (ushort* px = x, py = y)
                f(n, &theirs, 0, px, 0, py, 0, 1);
            Assert.Equal(BitConverter.SingleToInt32Bits(theirs), BitConverter.SingleToInt32Bits(GgmlFloatDot.VecDotF16(x, y)));
        }
    }

    private static float[] Row(Random rng, int n)
    {
        // Mixed magnitudes so that the order of additions shows in the last bits.
        var x = new float[n];
        for (int i = 0; i < n; i++)
            x[i] = (float)((rng.NextDouble() * 2 - 1) * Math.Pow(10, rng.Next(-3, 3)));
        return x;
    }

    private static ushort[] Halves(float[] x) => x.Select(v => BitConverter.HalfToUInt16Bits((Half)v)).ToArray();
}
