using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Tests.Quantization;

/// <summary>Round trips and dot products of the 32-block types and of F16/BF16, on seeded random rows.</summary>
public class LegacyQuantTests
{
    public static readonly int[] Lengths = [32, 64, 96, 256, 1024, 4096];

    public static TheoryData<GgmlType, int> TypesAndLengths()
    {
        var data = new TheoryData<GgmlType, int>();
        foreach (var c in LegacyQuantCase.All)
            foreach (int n in Lengths)
                data.Add(c.Type, n);
        // F16/BF16 rows need not be whole 32-blocks: exercise every vector tail.
        foreach (var t in new[] { GgmlType.F16, GgmlType.BF16 })
            foreach (int n in new[] { 1, 8, 15, 33, 63, 100, 130 })
                data.Add(t, n);
        return data;
    }

    /// <summary>The types with a minimum (Q4_1, Q5_1): their dots take Q8_1 activations, whose stored s carries the minimum's term.</summary>
    public static TheoryData<GgmlType, int> MinTypesAndLengths()
    {
        var data = new TheoryData<GgmlType, int>();
        foreach (var c in LegacyQuantCase.All.Where(c => c.DotType == GgmlType.Q8_1))
            foreach (int n in Lengths)
                data.Add(c.Type, n);
        return data;
    }

    public static TheoryData<GgmlType> Types()
    {
        var data = new TheoryData<GgmlType>();
        foreach (var c in LegacyQuantCase.All)
            data.Add(c.Type);
        return data;
    }

    /// <summary>Gaussian-ish values whose scale changes from block to block (so that per-block scales matter).</summary>
    internal static float[] RandomRow(int n, int seed, float offset = 0f)
    {
        var rng = new Random(seed);
        var x = new float[n];
        float scale = 1f;
        for (int i = 0; i < n; i++)
        {
            if (i % 32 == 0)
                scale = (float)Math.Pow(10, rng.NextDouble() * 3 - 2); // 0.01 .. 10
            double g = rng.NextDouble() + rng.NextDouble() + rng.NextDouble() - 1.5; // ~ normal, sd 0.5
            x[i] = (float)(g * scale) + offset * scale;
        }
        return x;
    }

    [Theory]
    [MemberData(nameof(TypesAndLengths))]
    public void RoundTripIsWithinTheTypesErrorBound(GgmlType type, int n)
    {
        var c = LegacyQuantCase.Of(type);
        // Offset rows too, so that the min/max types see blocks that do not straddle zero.
        foreach (float offset in new[] { 0f, 1.3f, -2.1f })
        {
            float[] x = RandomRow(n, seed: 1000 + n, offset);
            float[] y = c.Dequantize(c.Quantize(x), n);
            int bs = Math.Min(32, n);
            for (int b = 0; b < n; b += bs)
            {
                float[] block = x[b..Math.Min(n, b + bs)];
                double bound = c.BlockErrorBound(block);
                for (int j = 0; j < block.Length; j++)
                    Assert.True(Math.Abs(y[b + j] - block[j]) <= bound,
                        $"{c} n={n} offset={offset} element {b + j}: {block[j]} came back as {y[b + j]} (bound {bound})");
            }
        }
    }

    [Theory]
    [MemberData(nameof(TypesAndLengths))]
    public void DotMatchesADoublePrecisionReferenceOnDequantisedRows(GgmlType type, int n)
    {
        var c = LegacyQuantCase.Of(type);
        byte[] w = c.Quantize(RandomRow(n, seed: 7 * n + 1, offset: 0.4f));
        byte[] a = c.QuantizeActivations(RandomRow(n, seed: 7 * n + 2));
        (double reference, double tolerance) = Reference(c, w, a, n);
        foreach (var (name, dot) in c.DotPaths)
        {
            float got = dot(w, a, n);
            Assert.True(Math.Abs(got - reference) <= tolerance,
                $"{c} n={n} {name}: dot {got}, reference {reference}, tolerance {tolerance}");
        }
    }

    /// <summary>
    /// The exact value ggml's formula stands for, from dequantised rows summed in double. For Q4_1/Q5_1 the
    /// minimum's contribution uses the activation block's stored <c>s</c> (= F16(d * sum q)), as ggml does;
    /// the tolerance is float accumulation over the row (the per-block integer sums are exact).
    /// </summary>
    internal static (double Reference, double Tolerance) Reference(LegacyQuantCase c, byte[] w, byte[] a, int n)
    {
        float[] wf = c.Dequantize(w, n);
        float[] af = c.DequantizeActivations(a, n);
        double sum = 0, magnitude = 0;
        if (c.DotType == GgmlType.Q8_1)
        {
            int wBytes = GgmlTypeInfo.BlockBytes(c.Type), aBytes = ActivationQ8_1.BlockBytes;
            for (int b = 0; b < n / 32; b++)
            {
                double d = HalfAt(w, b * wBytes);
                double m = HalfAt(w, b * wBytes + 2);
                double s = HalfAt(a, b * aBytes + 2);
                for (int j = 0; j < 32; j++)
                {
                    double wq = UnsignedQuant(c.Type, w, b * wBytes, j) * d;
                    sum += wq * af[b * 32 + j];
                    magnitude += Math.Abs(wq * af[b * 32 + j]);
                }
                sum += m * s;
                magnitude += Math.Abs(m * s);
            }
        }
        else
        {
            for (int j = 0; j < n; j++)
            {
                sum += (double)wf[j] * af[j];
                magnitude += Math.Abs((double)wf[j] * af[j]);
            }
        }
        return (sum, magnitude * 1e-5 + 1e-30);
    }

    /// <summary>The unsigned quant of element j of a Q4_1 or Q5_1 block (nibble, plus bit j of qh for Q5_1).</summary>
    private static int UnsignedQuant(GgmlType type, byte[] w, int block, int j)
    {
        int qsStart = type == GgmlType.Q4_1 ? block + 4 : block + 8;
        int nibble = j < 16 ? w[qsStart + j] & 0x0F : w[qsStart + j - 16] >> 4;
        if (type == GgmlType.Q4_1)
            return nibble;
        uint qh = BitConverter.ToUInt32(w, block + 4);
        return nibble | (int)((qh >> j) & 1) << 4;
    }

    private static double HalfAt(byte[] bytes, int offset) => (double)BitConverter.ToHalf(bytes, offset);

    [Theory]
    [MemberData(nameof(MinTypesAndLengths))]
    public void DotWithMinTypesAgreesWithPlainDequantisedDotUpToTheF16RoundingOfS(GgmlType type, int n)
    {
        // Independent of ggml's formula: sum of dequantised w times dequantised activations. The only
        // difference allowed is the F16 rounding of each activation block's s, times the weights' minimum.
        var c = LegacyQuantCase.Of(type);
        byte[] w = c.Quantize(RandomRow(n, seed: 11 * n, offset: 1.1f));
        byte[] a = c.QuantizeActivations(RandomRow(n, seed: 11 * n + 1));
        float[] wf = c.Dequantize(w, n), af = c.DequantizeActivations(a, n);
        double plain = 0, magnitude = 0, sRounding = 0;
        int wBytes = GgmlTypeInfo.BlockBytes(type);
        for (int j = 0; j < n; j++)
        {
            plain += (double)wf[j] * af[j];
            magnitude += Math.Abs((double)wf[j] * af[j]);
        }
        for (int b = 0; b < n / 32; b++)
            sRounding += Math.Abs(HalfAt(w, b * wBytes + 2) * HalfAt(a, b * ActivationQ8_1.BlockBytes + 2)) / 1024;
        float got = RowKernels.Dot(type, w, a, n);
        Assert.True(Math.Abs(got - plain) <= magnitude * 1e-5 + sRounding, $"{c} n={n}: dot {got}, plain {plain}");
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void AllZeroBlocksDecodeToZeroAndDotToZero(GgmlType type)
    {
        var c = LegacyQuantCase.Of(type);
        const int n = 96;
        var x = new float[n];
        byte[] w = c.Quantize(x);
        Assert.All(c.Dequantize(w, n), v => Assert.Equal(0f, v));
        byte[] a = c.QuantizeActivations(RandomRow(n, 5));
        foreach (var (name, dot) in c.DotPaths)
            Assert.True(dot(w, a, n) == 0f, $"{c} {name}");
        byte[] zeroActivations = c.QuantizeActivations(x);
        Assert.All(c.DequantizeActivations(zeroActivations, n), v => Assert.Equal(0f, v));
        byte[] w2 = c.Quantize(RandomRow(n, 6));
        foreach (var (name, dot) in c.DotPaths)
            Assert.True(dot(w2, zeroActivations, n) == 0f, $"{c} {name}"); // Q4_1/Q5_1 too: s = 0
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void ABlockWithOneLargeValueKeepsItAndStillDotsCorrectly(GgmlType type)
    {
        var c = LegacyQuantCase.Of(type);
        const int n = 128;
        var x = RandomRow(n, 42);
        for (int i = 0; i < n; i++)
            x[i] *= 0.01f;
        x[37] = 1000f;   // inside block 1
        x[100] = -750f;  // inside block 3
        float[] y = c.Dequantize(c.Quantize(x), n);
        Assert.True(Math.Abs(y[37] - 1000f) <= c.BlockErrorBound(x[32..64]), $"{c}: {y[37]}");
        Assert.True(Math.Abs(y[100] + 750f) <= c.BlockErrorBound(x[96..128]), $"{c}: {y[100]}");

        byte[] w = c.Quantize(RandomRow(n, 43));
        byte[] a = c.QuantizeActivations(x);
        (double reference, double tolerance) = Reference(c, w, a, n);
        foreach (var (name, dot) in c.DotPaths)
            Assert.True(Math.Abs(dot(w, a, n) - reference) <= tolerance, $"{c} {name}");
    }

    [Fact]
    public void DotRejectsRowsThatAreNotWholeBlocksOrTooShort()
    {
        var w = new byte[RowQ4_0.BlockBytes * 2];
        var a = new byte[RowQ8_0.BlockBytes * 2];
        Assert.Throws<ArgumentException>(() => RowQ4_0.Dot(w, a, 48));
        Assert.Throws<ArgumentException>(() => RowQ4_0.Dot(w, a, 96));
        Assert.Throws<ArgumentException>(() => RowQ4_0.Dot(w, a.AsSpan(1), 64));
    }

    [Fact]
    public void F16DotWithInfinityOrNaNGivesIeeeResults()
    {
        foreach (int n in new[] { 8, 64, 200 })
        {
            float[] x = RandomRow(n, n);
            float[] ones = Enumerable.Repeat(1f, n).ToArray();
            x[n / 2] = float.PositiveInfinity;
            var c = LegacyQuantCase.F16;
            byte[] w = c.Quantize(x), a = c.QuantizeActivations(ones);
            foreach (var (name, dot) in c.DotPaths)
                Assert.True(float.IsPositiveInfinity(dot(w, a, n)), $"{name} n={n}");
            x[n / 3] = float.NaN;
            w = c.Quantize(x);
            foreach (var (name, dot) in c.DotPaths)
                Assert.True(float.IsNaN(dot(w, a, n)), $"{name} n={n}");
        }
    }
}
