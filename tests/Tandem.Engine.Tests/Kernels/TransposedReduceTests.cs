using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Kernels;
using Xunit;

namespace Tandem.Engine.Tests.Kernels;

/// <summary>
/// The many-at-once reductions must give each lane exactly the one-vector reduction of its input, bit for bit:
/// the inputs' lanes span many orders of magnitude with both signs, so any other grouping of the additions rounds
/// differently, and a wrong shuffle puts another vector's sum (or a mix) in the lane.
/// </summary>
public unsafe class TransposedReduceTests
{
    private const int Trials = 200;

    /// <summary>A lane with a random sign and a magnitude from 2^-20 to 2^20, so that addition order shows in the rounding.</summary>
    private static float Lane(Random rng) =>
        (float)((rng.Next(2) == 0 ? -1 : 1) * (1 + rng.NextDouble()) * Math.Pow(2, rng.Next(-20, 21)));

    [SkippableFact]
    public void ReduceAdd16_and_ReduceAdd8_equal_ReduceAdd_of_each_input()
    {
        Skip.IfNot(Avx512F.IsSupported, "the 16-lane reductions need AVX-512 (ggml's width-16 path)");
        var rng = new Random(16);
        Vector512<float>* s = stackalloc Vector512<float>[16];
        float* lanes = (float*)s;
        for (int trial = 0; trial < Trials; trial++)
        {
            for (int i = 0; i < 16 * 16; i++) lanes[i] = Lane(rng);
            Vector512<float> all = TransposedReduce.ReduceAdd16(s), half = TransposedReduce.ReduceAdd8(s);
            for (int m = 0; m < 16; m++)
            {
                float want = GgmlSimd.ReduceAdd(s[m]);
                Assert.Equal(BitConverter.SingleToInt32Bits(want), BitConverter.SingleToInt32Bits(all.GetElement(m)));
                if (m < 8) Assert.Equal(BitConverter.SingleToInt32Bits(want), BitConverter.SingleToInt32Bits(half.GetElement(m)));
            }
        }
    }

    [SkippableFact]
    public void ReduceAddHadd8_equals_ReduceAddHadd_of_each_input()
    {
        Skip.IfNot(Avx.IsSupported, "the 8-lane reduction needs AVX (ggml's width-8 path)");
        var rng = new Random(8);
        Vector256<float>* s = stackalloc Vector256<float>[8];
        float* lanes = (float*)s;
        for (int trial = 0; trial < Trials; trial++)
        {
            for (int i = 0; i < 8 * 8; i++) lanes[i] = Lane(rng);
            Vector256<float> all = TransposedReduce.ReduceAddHadd8(s);
            for (int m = 0; m < 8; m++)
                Assert.Equal(BitConverter.SingleToInt32Bits(GgmlSimd.ReduceAddHadd(s[m])), BitConverter.SingleToInt32Bits(all.GetElement(m)));
        }
    }
}
