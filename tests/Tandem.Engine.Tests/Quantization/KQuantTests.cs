using System.Runtime.InteropServices;
using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Tests.Quantization;

public class KQuantTests
{
    public static readonly TheoryData<GgmlType> WeightTypes = new() { GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K };

    private static readonly int[] Lengths = [256, 512, 768, 1024, 2048, 4096];

    // ---------- data ----------

    /// <summary>Gaussian rows with a per-row offset and a few outliers, as weight rows tend to look.</summary>
    private static float[] RandomRow(Random rng, int n, float sigma = 1f, float offset = 0f, int outliers = 2)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            x[i] = offset + sigma * (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        for (int k = 0; k < outliers; k++)
            x[rng.Next(n)] *= 8;
        return x;
    }

    private static byte[] Quantize(GgmlType type, ReadOnlySpan<float> x)
    {
        var dst = new byte[GgmlTypeInfo.RowBytes(type, x.Length)];
        RowKernels.Quantize(type, x, dst);
        return dst;
    }

    private static float[] Dequantize(GgmlType type, byte[] src, int n)
    {
        var dst = new float[n];
        RowKernels.Dequantize(type, src, dst);
        return dst;
    }

    private static float[] DequantizeQ8K(byte[] q, int n)
    {
        var y = new float[n];
        for (int b = 0; b < n / 256; b++)
        {
            float d = BitConverter.ToSingle(q, b * 292);
            for (int j = 0; j < 256; j++)
                y[b * 256 + j] = d * (sbyte)q[b * 292 + 4 + j];
        }
        return y;
    }

    private static float GenericDot(GgmlType type, byte[] w, byte[] a, int n) => type switch
    {
        GgmlType.Q4_K => KQuantGenericDot.Q4K(w, a, n),
        GgmlType.Q5_K => KQuantGenericDot.Q5K(w, a, n),
        GgmlType.Q6_K => KQuantGenericDot.Q6K(w, a, n),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>Σ|w_i·a_i| of the dequantised rows: the scale against which float rounding is judged.</summary>
    private static double AbsDot(float[] w, float[] a)
    {
        double s = 0;
        for (int i = 0; i < w.Length; i++) s += Math.Abs((double)w[i] * a[i]);
        return s;
    }

    private static double RelativeRmse(float[] x, float[] y)
    {
        double err = 0, sig = 0;
        for (int i = 0; i < x.Length; i++)
        {
            err += (x[i] - y[i]) * (double)(x[i] - y[i]);
            sig += x[i] * (double)x[i];
        }
        return Math.Sqrt(err / sig);
    }

    // ---------- round trip ----------

    [Fact]
    public void RoundTripErrorIsSmallAndOrderedByBits()
    {
        var rng = new Random(1234);
        foreach (int n in Lengths)
        {
            float[] x = RandomRow(rng, n, sigma: 0.02f, offset: 0.003f);
            double e4 = RelativeRmse(x, Dequantize(GgmlType.Q4_K, Quantize(GgmlType.Q4_K, x), n));
            double e5 = RelativeRmse(x, Dequantize(GgmlType.Q5_K, Quantize(GgmlType.Q5_K, x), n));
            double e6 = RelativeRmse(x, Dequantize(GgmlType.Q6_K, Quantize(GgmlType.Q6_K, x), n));
            Assert.True(e4 < 0.12, $"n={n}: Q4_K relative RMSE {e4}");
            Assert.True(e5 < 0.06, $"n={n}: Q5_K relative RMSE {e5}");
            Assert.True(e6 < 0.03, $"n={n}: Q6_K relative RMSE {e6}");
            Assert.True(e6 < e5 && e5 < e4, $"n={n}: expected Q6_K < Q5_K < Q4_K, got {e6} / {e5} / {e4}");
        }
    }

    [Theory]
    [MemberData(nameof(WeightTypes))]
    public void AllZeroBlockRoundTripsToZeroAndDotsToZero(GgmlType type)
    {
        var x = new float[512];
        for (int i = 256; i < 512; i++) x[i] = MathF.Sin(i);   // second block non-zero
        byte[] q = Quantize(type, x);
        float[] y = Dequantize(type, q, 512);
        for (int i = 0; i < 256; i++) Assert.Equal(0f, y[i]);
        Assert.True(RelativeRmse(x.AsSpan(256).ToArray(), y.AsSpan(256).ToArray()) < 0.12);

        byte[] a = Quantize(GgmlType.Q8_K, new float[512]);
        Assert.Equal(0f, RowKernels.Dot(type, q, a, 512));
    }

    [Theory]
    [MemberData(nameof(WeightTypes))]
    public void OneLargeValueSurvives(GgmlType type)
    {
        var x = RandomRow(new Random(99), 256, sigma: 0.01f, outliers: 0);
        x[77] = 3.5f;
        x[200] = -2f;
        float[] y = Dequantize(type, Quantize(type, x), 256);
        Assert.InRange(y[77], 3.5f * 0.97f, 3.5f * 1.03f);
        Assert.InRange(y[200], -2f * 1.08f, -2f * 0.92f);
    }

    [Theory]
    [MemberData(nameof(WeightTypes))]
    public void NegativeMaximumRoundTrips(GgmlType type)
    {
        var x = RandomRow(new Random(5), 256, sigma: 0.3f, outliers: 0);
        x[10] = -4f; // the largest magnitude is negative
        float[] y = Dequantize(type, Quantize(type, x), 256);
        Assert.InRange(y[10], -4f * 1.03f, -4f * 0.97f);
        Assert.True(RelativeRmse(x, y) < 0.12);
    }

    [Fact]
    public void HalfToFloatAgreesWithSystemHalfForAllBitPatterns()
    {
        for (int bits = 0; bits < 65536; bits++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
            float actual = KQuantBlocks.HalfToFloat((ushort)bits);
            if (float.IsNaN(expected))
                Assert.True(float.IsNaN(actual), $"0x{bits:X4}");
            else
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual));
        }
    }

    // ---------- Q8_K ----------

    /// <summary>quantize_row_q8_K_ref written plainly (MathF.Round to even instead of the magic-number trick).</summary>
    private static byte[] PlainQ8K(float[] x)
    {
        int nb = x.Length / 256;
        var q = new byte[nb * 292];
        for (int b = 0; b < nb; b++)
        {
            float max = 0, amax = 0;
            for (int j = 0; j < 256; j++)
                if (Math.Abs(x[b * 256 + j]) > amax) { amax = Math.Abs(x[b * 256 + j]); max = x[b * 256 + j]; }
            if (amax == 0) continue;
            float iscale = -127f / max;
            var qs = new sbyte[256];
            for (int j = 0; j < 256; j++)
                qs[j] = (sbyte)Math.Min(127, (int)MathF.Round(iscale * x[b * 256 + j], MidpointRounding.ToEven));
            BitConverter.TryWriteBytes(q.AsSpan(b * 292), 1 / iscale);
            for (int j = 0; j < 256; j++) q[b * 292 + 4 + j] = (byte)qs[j];
            for (int g = 0; g < 16; g++)
            {
                short s = 0;
                for (int k = 0; k < 16; k++) s += qs[16 * g + k];
                BitConverter.TryWriteBytes(q.AsSpan(b * 292 + 260 + 2 * g), s);
            }
        }
        return q;
    }

    [Fact]
    public void Q8KMatchesPlainScalarDefinition()
    {
        var rng = new Random(42);
        foreach (int n in Lengths)
        {
            float[] x = RandomRow(rng, n, sigma: 3f);
            Assert.Equal(PlainQ8K(x), Quantize(GgmlType.Q8_K, x));
        }
        // ties: values that land exactly on .5 after scaling round to even
        var ties = new float[256];
        ties[0] = -127f;
        for (int i = 1; i < 256; i++) ties[i] = (i % 7) - 3.5f + (i % 3);
        Assert.Equal(PlainQ8K(ties), Quantize(GgmlType.Q8_K, ties));
    }

    [Fact]
    public void Q8KEdgeCases()
    {
        var x = new float[768];
        // block 0 all zero; block 1 one large positive value; block 2 negative maximum
        x[256 + 3] = 1000f;
        x[256 + 4] = 1f;
        for (int i = 512; i < 768; i++) x[i] = 0.1f * (i % 5);
        x[600] = -9f;
        byte[] q = Quantize(GgmlType.Q8_K, x);

        Assert.Equal(0f, BitConverter.ToSingle(q, 0));
        Assert.All(q.AsSpan(4, 288).ToArray(), b => Assert.Equal(0, b));

        // positive max → iscale negative: the max quantises to −127 and d is negative
        Assert.Equal(-127, (sbyte)q[292 + 4 + 3]);
        Assert.True(BitConverter.ToSingle(q, 292) < 0);
        // negative max → it quantises to −127, d positive
        Assert.Equal(-127, (sbyte)q[584 + 4 + (600 - 512)]);
        Assert.True(BitConverter.ToSingle(q, 584) > 0);

        float[] y = DequantizeQ8K(q, 768);
        Assert.Equal(1000f, y[259], 3);
        Assert.Equal(-9f, y[600], 4);
    }

    // ---------- dot ----------

    [Theory]
    [MemberData(nameof(WeightTypes))]
    public void SimdDotEqualsGenericReferenceAndFloatDot(GgmlType type)
    {
        var rng = new Random(2024 + (int)type);
        foreach (int n in Lengths)
        {
            for (int trial = 0; trial < 4; trial++)
            {
                float[] w = RandomRow(rng, n, sigma: 0.02f, offset: trial == 1 ? 0.01f : 0f);
                float[] x = RandomRow(rng, n, sigma: trial == 2 ? 50f : 1f, offset: trial == 3 ? -0.5f : 0f);
                byte[] qw = Quantize(type, w);
                byte[] qa = Quantize(GgmlType.Q8_K, x);

                float simd = RowKernels.Dot(type, qw, qa, n);
                float generic = GenericDot(type, qw, qa, n);
                float[] dw = Dequantize(type, qw, n);
                float[] da = DequantizeQ8K(qa, n);
                double exact = 0;
                for (int i = 0; i < n; i++) exact += (double)dw[i] * da[i];
                double scale = AbsDot(dw, da);

                Assert.True(Math.Abs(simd - generic) <= 1e-5 * scale, $"{type} n={n}: simd {simd} vs generic {generic} (scale {scale})");
                Assert.True(Math.Abs(simd - exact) <= 1e-5 * scale, $"{type} n={n}: simd {simd} vs float dot {exact} (scale {scale})");
            }
        }
    }

    /// <summary>
    /// The Vector128 dots (the path where AVX2 is missing: Arm64, old x64) give the generic kernel's results bit for
    /// bit, on any machine, one token at a time and four at a time (Q4_K, Q6_K): quantised rows, and blocks of random
    /// bytes (every quant, scale, min and high-bit pattern, Q8 values down to -128) with finite block scales.
    /// </summary>
    [Theory]
    [MemberData(nameof(WeightTypes))]
    public void PortableDotIsBitIdenticalToGenericReference(GgmlType type)
    {
        var rng = new Random(77 + (int)type);
        int blockBytes = (int)GgmlTypeInfo.RowBytes(type, 256);
        foreach (int n in Lengths)
        {
            for (int trial = 0; trial < 6; trial++)
            {
                byte[] qw;
                var qa = new byte[4][];
                if (trial < 3)
                {
                    qw = Quantize(type, RandomRow(rng, n, sigma: 0.02f, offset: trial == 1 ? 0.01f : 0f));
                    for (int k = 0; k < 4; k++)
                        qa[k] = Quantize(GgmlType.Q8_K, RandomRow(rng, n, sigma: trial == 2 ? 50f : 1f));
                }
                else
                {
                    qw = new byte[n / 256 * blockBytes];
                    rng.NextBytes(qw);
                    for (int b = 0; b < n / 256; b++)
                    {
                        // Finite scales: d (and dmin) of the weight block.
                        BitConverter.TryWriteBytes(qw.AsSpan(b * blockBytes + (type == GgmlType.Q6_K ? 208 : 0)), (Half)(float)(rng.NextDouble() - 0.5));
                        if (type != GgmlType.Q6_K)
                            BitConverter.TryWriteBytes(qw.AsSpan(b * blockBytes + 2), (Half)(float)(rng.NextDouble() * 0.1));
                    }
                    for (int k = 0; k < 4; k++)
                    {
                        qa[k] = new byte[n / 256 * 292];
                        rng.NextBytes(qa[k]);
                        for (int b = 0; b < n / 256; b++)
                            BitConverter.TryWriteBytes(qa[k].AsSpan(b * 292), (float)(rng.NextDouble() * 0.02)); // the Q8_K block's d
                    }
                }
                var four = new float[4];
                if (type == GgmlType.Q4_K) KQuantPortableDot.Q4K4(qw, qa[0], qa[1], qa[2], qa[3], n, four);
                if (type == GgmlType.Q6_K) KQuantPortableDot.Q6K4(qw, qa[0], qa[1], qa[2], qa[3], n, four);
                for (int k = 0; k < 4; k++)
                {
                    float generic = GenericDot(type, qw, qa[k], n);
                    float portable = type switch
                    {
                        GgmlType.Q4_K => KQuantPortableDot.Q4K(qw, qa[k], n),
                        GgmlType.Q5_K => KQuantPortableDot.Q5K(qw, qa[k], n),
                        _ => KQuantPortableDot.Q6K(qw, qa[k], n),
                    };
                    Assert.True(BitConverter.SingleToInt32Bits(generic) == BitConverter.SingleToInt32Bits(portable),
                        $"{type} n={n} trial {trial} token {k}: portable {portable:R}, generic {generic:R}");
                    if (type != GgmlType.Q5_K)
                        Assert.True(BitConverter.SingleToInt32Bits(generic) == BitConverter.SingleToInt32Bits(four[k]),
                            $"{type} n={n} trial {trial} token {k}: four at a time {four[k]:R}, generic {generic:R}");
                }
            }
        }
    }

    // ---------- against llama.cpp's own kernels ----------

    public static readonly TheoryData<string> Variants = new() { "avx2", "avx512" };

    [SkippableTheory]
    [MemberData(nameof(Variants))]
    public void QuantizeAndDequantizeAreBitIdenticalToGgml(string variant)
    {
        var ggml = KQuantGgmlOracle.Require(variant);

        var rng = new Random(77);
        foreach (GgmlType type in new[] { GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K })
        {
            foreach (int n in Lengths)
            {
                float[] x = RandomRow(rng, n, sigma: 0.05f, offset: n % 512 == 0 ? 0.01f : 0f, outliers: 3);
                byte[] ours = Quantize(type, x);
                Assert.Equal(ggml.QuantizeRef(type, x), ours);
                Assert.Equal(ggml.Dequantize(type, ours, n), Dequantize(type, ours, n));
            }
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Variants))]
    public void Q8KIsBitIdenticalToGgmlCpuBackend(string variant)
    {
        var ggml = KQuantGgmlOracle.Require(variant);

        var rng = new Random(8);
        foreach (int n in Lengths)
        {
            float[] x = RandomRow(rng, n, sigma: 2f);
            Assert.Equal(ggml.QuantizeQ8K(x), Quantize(GgmlType.Q8_K, x));
        }
        var edge = new float[512];
        edge[300] = -1e-30f;
        byte[] ggmlEdge = ggml.QuantizeQ8K(edge), ours = Quantize(GgmlType.Q8_K, edge);
        Assert.Equal(ggmlEdge.AsSpan(0, 260).ToArray(), ours.AsSpan(0, 260).ToArray()); // bsums of a zero block are left stale by ggml
        Assert.Equal(ggmlEdge.AsSpan(292).ToArray(), ours.AsSpan(292).ToArray());
    }

    [SkippableTheory]
    [MemberData(nameof(Variants))]
    public void DotIsBitIdenticalToGgmlVecDot(string variant)
    {
        var ggml = KQuantGgmlOracle.Require(variant);

        var rng = new Random(31337);
        foreach (GgmlType type in new[] { GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K })
        {
            foreach (int n in Lengths)
            {
                byte[] qw = Quantize(type, RandomRow(rng, n, sigma: 0.02f, offset: 0.004f));
                byte[] qa = Quantize(GgmlType.Q8_K, RandomRow(rng, n, sigma: 1.5f));
                float theirs = ggml.Dot(type, qw, qa, n);
                float ours = RowKernels.Dot(type, qw, qa, n);
                Assert.True(BitConverter.SingleToInt32Bits(theirs) == BitConverter.SingleToInt32Bits(ours),
                    $"{variant} {type} n={n}: ggml {theirs:R} vs ours {ours:R}");
            }
        }
    }

    // ---------- real data ----------

    [SkippableFact]
    public void RealTensorsQuantizeLikeGgml()
    {
        // Only ggml-base's reference quantisers are called: every build has the same ones.
        var ggml = KQuantGgmlOracle.Require("avx2");
        using var file = GgufFile.Open(TestPaths.Model("stories260K.gguf"));
        int checkedTensors = 0;
        foreach (var t in file.Tensors)
        {
            if (t.Type != GgmlType.F32 || t.ElementCount % 256 != 0) continue;
            // ggml quantises a contiguous tensor as one long run of 256-element blocks
            float[] x = MemoryMarshal.Cast<byte, float>(t.Bytes).ToArray();
            foreach (GgmlType type in new[] { GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K })
            {
                byte[] ours = Quantize(type, x);
                Assert.Equal(ggml.QuantizeRef(type, x), ours);
                Assert.True(RelativeRmse(x, Dequantize(type, ours, x.Length)) < 0.15, $"{t.Name} {type}");
            }
            checkedTensors++;
        }
        Assert.True(checkedTensors > 0);
    }
}
