using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Kernels;
using Xunit;

namespace Tandem.Engine.Tests.Kernels;

/// <summary>
/// The many-at-once sums must give each lane exactly .NET's <c>VectorN.Sum</c> of its input, bit for bit, since F16
/// attention's scores follow <c>TensorPrimitives.Dot</c>, which ends in that Sum. The lanes span many orders of
/// magnitude with both signs, so another grouping of the additions rounds differently (each test checks that its data
/// tells a left-to-right sum from Sum's), and a wrong shuffle puts another vector's sum, or a mix, in the lane.
/// The references are compiled fully optimised, as the kernels are, so that Sum is the JIT's lowering of it.
/// </summary>
public unsafe class TransposedVectorSumTests
{
    private const int Trials = 200;

    /// <summary>A lane with a random sign and a magnitude from 2^-20 to 2^20, so that addition order shows in the rounding.</summary>
    private static float Lane(Random rng) =>
        (float)((rng.Next(2) == 0 ? -1 : 1) * (1 + rng.NextDouble()) * Math.Pow(2, rng.Next(-20, 21)));

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static float Sum(Vector512<float> v) => Vector512.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static float Sum(Vector256<float> v) => Vector256.Sum(v);

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static float Sum(Vector128<float> v) => Vector128.Sum(v);

    private static float LeftToRight(float* lanes, int n)
    {
        float s = lanes[0];
        for (int i = 1; i < n; i++) s += lanes[i];
        return s;
    }

    /// <summary>Checks lanes 0..<paramref name="n"/> of <paramref name="got"/>; returns how many inputs a left-to-right sum gets wrong.</summary>
    private static int Check(float* got, float* inputs, int n, float* want)
    {
        int otherOrderDiffers = 0;
        for (int m = 0; m < n; m++)
        {
            float w = want[m];
            Assert.True(BitConverter.SingleToInt32Bits(w) == BitConverter.SingleToInt32Bits(got[m]), $"lane {m}: {got[m]:R}, Sum {w:R}");
            if (BitConverter.SingleToInt32Bits(LeftToRight(inputs + m * n, n)) != BitConverter.SingleToInt32Bits(w)) otherOrderDiffers++;
        }
        return otherOrderDiffers;
    }

    [SkippableFact]
    public void Sum16_equals_Vector512_Sum_of_each_input()
    {
        Skip.IfNot(Avx512F.IsSupported, "the 16-lane network needs AVX-512");
        var rng = new Random(16);
        Vector512<float>* s = stackalloc Vector512<float>[16];
        float* lanes = (float*)s, got = stackalloc float[16], want = stackalloc float[16];
        int differs = 0;
        for (int trial = 0; trial < Trials; trial++)
        {
            for (int i = 0; i < 16 * 16; i++) lanes[i] = Lane(rng);
            Vector512.Store(TransposedVectorSum.Sum16(s), got);
            for (int m = 0; m < 16; m++) want[m] = Sum(s[m]);
            differs += Check(got, lanes, 16, want);
        }
        Assert.True(differs > Trials, $"only {differs} of {16 * Trials} sums tell a left-to-right order from Sum's");
    }

    [SkippableFact]
    public void Sum8_equals_Vector256_Sum_of_each_input()
    {
        Skip.IfNot(Avx.IsSupported, "the 8-lane network needs AVX");
        var rng = new Random(8);
        Vector256<float>* s = stackalloc Vector256<float>[8];
        float* lanes = (float*)s, got = stackalloc float[8], want = stackalloc float[8];
        int differs = 0;
        for (int trial = 0; trial < Trials; trial++)
        {
            for (int i = 0; i < 8 * 8; i++) lanes[i] = Lane(rng);
            Vector256.Store(TransposedVectorSum.Sum8(s), got);
            for (int m = 0; m < 8; m++) want[m] = Sum(s[m]);
            differs += Check(got, lanes, 8, want);
        }
        Assert.True(differs > Trials / 2, $"only {differs} of {8 * Trials} sums tell a left-to-right order from Sum's");
    }

    [SkippableFact]
    public void Sum4_equals_Vector128_Sum_of_each_input()
    {
        Skip.IfNot(Sse.IsSupported, "the 4-lane network needs SSE");
        var rng = new Random(4);
        Vector128<float>* s = stackalloc Vector128<float>[4];
        float* lanes = (float*)s, got = stackalloc float[4], want = stackalloc float[4];
        int differs = 0;
        for (int trial = 0; trial < Trials; trial++)
        {
            for (int i = 0; i < 4 * 4; i++) lanes[i] = Lane(rng);
            Vector128.Store(TransposedVectorSum.Sum4(s), got);
            for (int m = 0; m < 4; m++) want[m] = Sum(s[m]);
            differs += Check(got, lanes, 4, want);
        }
        Assert.True(differs > Trials / 4, $"only {differs} of {4 * Trials} sums tell a left-to-right order from Sum's");
    }
}
