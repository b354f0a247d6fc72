using System.Runtime.InteropServices;
using Tandem.Engine.Kernels;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Tests.Quantization;

/// <summary>
/// <see cref="GgmlFloatDot"/>'s single-row dots against <c>ggml_vec_dot_f32</c> / <c>_f16</c> / <c>_bf16</c> of the
/// LLamaSharp build that llama.cpp runs on this CPU (avx512 or avx2, as <see cref="GgmlSimd.Width"/> says), bit
/// for bit, over lengths that exercise every part: whole 4-vector steps, the vectorised tail and the fused tail.
/// </summary>
public unsafe class GgmlFloatDotOracleTests
{
    /// <summary>The build whose vector width the engine's float dots follow; skips the test where there is none.</summary>
    private static GgmlNativeBuild Ggml()
    {
        Skip.If(GgmlSimd.Width == 0, "the engine has no ggml-ordered float dot on this CPU (GgmlSimd.Width is 0: no AVX2+FMA as .NET reports it)");
        return GgmlNativeBuild.Require(GgmlSimd.Width == 16 ? "avx512" : "avx2");
    }

    public static TheoryData<int> Lengths() => [1, 3, 4, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 40, 47, 63, 64, 65, 72, 80, 88, 100, 127, 128, 129, 200, 256, 1000];

    [SkippableTheory]
    [MemberData(nameof(Lengths))]
    public void F32DotMatchesGgmlVecDotF32(int n)
    {
        var f = (delegate* unmanaged<int, float*, nuint, float*, nuint, float*, nuint, int, void>)Ggml().CpuExport("ggml_vec_dot_f32");
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

    [SkippableTheory]
    [MemberData(nameof(Lengths))]
    public void F16DotMatchesGgmlVecDotF16(int n) =>
        SixteenBitDotMatches("ggml_vec_dot_f16", new Random(1000 + n), n, Halves, (x, y) => GgmlFloatDot.VecDotF16(x, y));

    /// <summary>Through <see cref="RowBF16.Dot"/>, the kernel BF16 matmuls call, so that its dispatch to the ggml-ordered dot is checked too.</summary>
    [SkippableTheory]
    [MemberData(nameof(Lengths))]
    public void BF16DotMatchesGgmlVecDotBF16(int n) =>
        SixteenBitDotMatches("ggml_vec_dot_bf16", new Random(2000 + n), n, BFloat16s,
            (x, y) => RowBF16.Dot(MemoryMarshal.AsBytes(x.AsSpan()), MemoryMarshal.AsBytes(y.AsSpan()), x.Length));

    private static void SixteenBitDotMatches(string function, Random rng, int n, Func<float[], ushort[]> encode, Func<ushort[], ushort[], float> ours)
    {
        var f = (delegate* unmanaged<int, float*, nuint, ushort*, nuint, ushort*, nuint, int, void>)Ggml().CpuExport(function);
        for (int trial = 0; trial < 20; trial++)
        {
            ushort[] x = encode(Row(rng, n)), y = encode(Row(rng, n));
            float theirs;
            fixed (ushort* px = x, py = y)
                f(n, &theirs, 0, px, 0, py, 0, 1);
            Assert.Equal(BitConverter.SingleToInt32Bits(theirs), BitConverter.SingleToInt32Bits(ours(x, y)));
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

    private static ushort[] BFloat16s(float[] x) => x.Select(v => (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16)).ToArray();
}
