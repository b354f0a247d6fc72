using System.Runtime.Intrinsics;
using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;
using Xunit;

namespace Tandem.Engine.Tests.Quantization;

/// <summary>
/// The four-row dot kernels must give, for every (weight row, activation row) pair, exactly the float that
/// the single-pair Dot gives: batch invariance and agreement with ggml's vec_dot depend on it.
/// </summary>
public class MultiRowDotTests
{
    public static TheoryData<GgmlType, int> Cases => new()
    {
        { GgmlType.Q8_0, 32 }, { GgmlType.Q8_0, 96 }, { GgmlType.Q8_0, 576 }, { GgmlType.Q8_0, 1536 },
        { GgmlType.Q4_0, 32 }, { GgmlType.Q4_0, 160 }, { GgmlType.Q4_0, 576 }, { GgmlType.Q4_0, 2048 },
        { GgmlType.Q5_0, 32 }, { GgmlType.Q5_0, 224 }, { GgmlType.Q5_0, 576 }, { GgmlType.Q5_0, 1536 },
        { GgmlType.Q4_K, 256 }, { GgmlType.Q4_K, 768 }, { GgmlType.Q4_K, 1536 },
        { GgmlType.Q6_K, 256 }, { GgmlType.Q6_K, 768 }, { GgmlType.Q6_K, 1536 },
        { GgmlType.F16, 8 }, { GgmlType.F16, 64 }, { GgmlType.F16, 200 }, { GgmlType.F16, 576 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Dot4_equals_four_single_dots_bit_for_bit(GgmlType type, int n)
    {
        var rng = new Random(n * 31 + (int)type);
        for (int trial = 0; trial < 20; trial++)
        {
            byte[] w = QuantizedRow(type, RandomRow(rng, n), n);
            GgmlType dotType = RowKernels.DotType(type);
            byte[][] a = new byte[4][];
            for (int k = 0; k < 4; k++) a[k] = QuantizedRow(dotType, RandomRow(rng, n), n);

            float[] got = new float[4];
            Dot4(type, w, a, n, got);
            for (int k = 0; k < 4; k++)
            {
                float want = RowKernels.Dot(type, w, a[k], n);
                Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(got[k]),
                    $"{type} n={n} trial {trial} row {k}: Dot4 {got[k]:R}, Dot {want:R}");
            }
        }
    }

    [Fact]
    public void Dot4_rejects_a_short_activation_row()
    {
        byte[] w = QuantizedRow(GgmlType.Q8_0, new float[64], 64);
        byte[] full = QuantizedRow(GgmlType.Q8_0, new float[64], 64);
        byte[] half = QuantizedRow(GgmlType.Q8_0, new float[32], 32);
        Assert.Throws<ArgumentException>(() => RowQ8_0.Dot4(w, full, full, half, full, 64, new float[4]));
    }

    [Fact]
    public void Four_wide_half_conversion_equals_the_scalar_one_for_every_bit_pattern()
    {
        for (uint h = 0; h <= 0xFFFF; h += 4)
        {
            var got = LegacyDot4.HalfToSingle4(Vector128.Create(h, h + 1, h + 2, h + 3));
            for (int k = 0; k < 4; k++)
                Assert.Equal(BitConverter.SingleToUInt32Bits(FloatConversions.HalfToSingle((ushort)(h + k))),
                    BitConverter.SingleToUInt32Bits(got.GetElement(k)));
        }
    }

    internal static void Dot4(GgmlType type, byte[] w, byte[][] a, int n, float[] results)
    {
        switch (type)
        {
            case GgmlType.Q8_0: RowQ8_0.Dot4(w, a[0], a[1], a[2], a[3], n, results); break;
            case GgmlType.Q4_0: RowQ4_0.Dot4(w, a[0], a[1], a[2], a[3], n, results); break;
            case GgmlType.Q5_0: RowQ5_0.Dot4(w, a[0], a[1], a[2], a[3], n, results); break;
            case GgmlType.Q4_K: RowQ4_K.Dot4(w, a[0], a[1], a[2], a[3], n, results); break;
            case GgmlType.Q6_K: RowQ6_K.Dot4(w, a[0], a[1], a[2], a[3], n, results); break;
            case GgmlType.F16: RowF16.Dot4(w, a[0], a[1], a[2], a[3], n, results); break;
            default: throw new ArgumentOutOfRangeException(nameof(type));
        }
    }

    /// <summary>Values over several orders of magnitude, so that any change in summation order shows in the last bits.</summary>
    internal static float[] RandomRow(Random rng, int n)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            double scale = Math.Pow(10, rng.NextDouble() * 3 - 2);
            x[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        }
        return x;
    }

    internal static byte[] QuantizedRow(GgmlType type, float[] x, int n)
    {
        var q = new byte[GgmlTypeInfo.RowBytes(type, n)];
        RowKernels.Quantize(type, x, q);
        return q;
    }
}
