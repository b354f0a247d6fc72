using Tandem.Engine.Quantization;

namespace Tandem.Engine.Tests.Quantization;

/// <summary>
/// The activation conversions must be bit-identical to what llama.cpp's x86 CPU backend does before a dot:
/// AVX2 <c>quantize_row_q8_0</c>/<c>quantize_row_q8_1</c>, F16C F32-to-F16, and <c>ggml_compute_fp32_to_bf16</c>.
/// </summary>
public class LegacyActivationQuantTests
{
    /// <summary>
    /// Hand-written restatement of ggml-cpu's AVX2 Q8 activation quantiser for one block: amax, d = amax/127,
    /// id = 127/amax (0 for amax 0), q = x*id rounded half to even (_mm256_round_ps nearest), d (and for Q8_1
    /// s = d*sum with the F32 d) stored as F16 rounded to nearest even.
    /// </summary>
    private static (ushort D, ushort S, sbyte[] Qs) GgmlAvx2Q8Block(ReadOnlySpan<float> x)
    {
        float amax = 0f;
        foreach (float v in x)
            amax = Math.Max(amax, Math.Abs(v));
        float d = amax / 127f;
        float id = amax != 0f ? 127f / amax : 0f;
        var qs = new sbyte[32];
        int sum = 0;
        for (int j = 0; j < 32; j++)
        {
            float scaled = x[j] * id;
            qs[j] = (sbyte)Math.Round(scaled, MidpointRounding.ToEven);
            sum += qs[j];
        }
        return (BitConverter.HalfToUInt16Bits((Half)d), BitConverter.HalfToUInt16Bits((Half)(d * sum)), qs);
    }

    /// <summary>Four blocks built so that the Q8 activation quantiser meets exact ties and rounding edges.</summary>
    internal static float[] TieRow()
    {
        // Block 0: amax 127 makes id exactly 1, so each x is its own scaled value: exact .5 ties.
        var x = new float[128];
        float[] b0 = [127f, 2.5f, -2.5f, 3.5f, -3.5f, 0.5f, -0.5f, 1.5f, -1.5f, 126.5f, -126.5f, 10.5f, 11.5f, -64.5f, 63.5f];
        b0.CopyTo(x, 0);
        // Block 1: amax 63.5 makes id exactly 2: x = k/2 + 1/4 scales to ties.
        float[] b1 = [-63.5f, 1.25f, 0.75f, -0.25f, 0.25f, -1.25f, 30.25f, -30.75f];
        b1.CopyTo(x, 32);
        // Block 2: random, with the exact maximum appearing twice with both signs.
        var r = LegacyQuantTests.RandomRow(32, 99);
        r[3] = 5f;
        r[17] = -5f;
        r.CopyTo(x, 64);
        // Block 3: an amax where 127/amax and 1/(amax/127) differ in the last bit, with x right at the
        // rounding edges: ggml's id = 127/amax gives 1.4999999, 2.5, 3.4999998, 4.5 (-> 1, 2, 3, 4), while
        // id = 1/d would give 1.5000001, 2.5000002, 3.5, 4.5000005 (-> 2, 3, 4, 5).
        uint[] b3 = [0x3F5F7D1E, 0x3C28EFB6, 0x3C8CC7C3, 0x3CC517A9, 0x3CFD6792];
        for (int j = 0; j < b3.Length; j++)
            x[96 + j] = BitConverter.UInt32BitsToSingle(b3[j]);
        return x;
    }

    [Fact]
    public void Q8_0RoundsTiesToEvenLikeTheAvx2Path()
    {
        float[] x = TieRow();
        var bytes = new byte[x.Length / 32 * RowQ8_0.BlockBytes];
        RowQ8_0.Quantize(x, bytes);
        sbyte Q(int i) => (sbyte)bytes[(i / 32) * RowQ8_0.BlockBytes + 2 + i % 32];
        // roundf would give 3, -3, 4, -4, 1, -1, 2, -2, 127, -127, 11, 12, -65, 64
        Assert.Equal(new sbyte[] { 127, 2, -2, 4, -4, 0, 0, 2, -2, 126, -126, 10, 12, -64, 64 },
            Enumerable.Range(0, 15).Select(Q).ToArray());
        Assert.Equal(new sbyte[] { -127, 2, 2, 0, 0, -2, 60, -62 }, Enumerable.Range(32, 8).Select(Q).ToArray());
        Assert.Equal(new sbyte[] { 127, 1, 2, 3, 4 }, Enumerable.Range(96, 5).Select(Q).ToArray());
        Assert.Equal((ushort)0x3C00, BitConverter.ToUInt16(bytes, 0)); // d = 127/127 = 1
    }

    [Fact]
    public void Q8_0AndQ8_1MatchTheGgmlAvx2SemanticsBitForBit()
    {
        var rows = new List<float[]> { TieRow(), new float[64] };
        foreach (int n in new[] { 32, 256, 4096 })
            rows.Add(LegacyQuantTests.RandomRow(n, 500 + n, offset: 0.2f));
        var big = LegacyQuantTests.RandomRow(64, 3);
        big[5] = 1e30f; // d overflows F16 to inf, as it would in ggml
        for (int i = 32; i < 64; i++) big[i] = big[i] * 1e-35f;
        big[40] = -3e-30f; // tiny block maximum: d underflows F16 to 0, id = 127/amax is still finite
        rows.Add(big);

        foreach (float[] x in rows)
        {
            int nb = x.Length / 32;
            var q8_0 = new byte[nb * RowQ8_0.BlockBytes];
            var q8_1 = new byte[nb * ActivationQ8_1.BlockBytes];
            RowQ8_0.Quantize(x, q8_0);
            ActivationQ8_1.Quantize(x, q8_1);
            for (int b = 0; b < nb; b++)
            {
                var (d, s, qs) = GgmlAvx2Q8Block(x.AsSpan(b * 32, 32));
                Assert.Equal(d, BitConverter.ToUInt16(q8_0, b * RowQ8_0.BlockBytes));
                Assert.Equal(qs, q8_0.AsSpan(b * RowQ8_0.BlockBytes + 2, 32).ToArray().Select(v => (sbyte)v).ToArray());
                Assert.Equal(d, BitConverter.ToUInt16(q8_1, b * ActivationQ8_1.BlockBytes));
                Assert.Equal(s, BitConverter.ToUInt16(q8_1, b * ActivationQ8_1.BlockBytes + 2));
                Assert.Equal(qs, q8_1.AsSpan(b * ActivationQ8_1.BlockBytes + 4, 32).ToArray().Select(v => (sbyte)v).ToArray());
            }
        }
    }

    [Fact]
    public void VectorAndScalarQ8BlockQuantisersAgree()
    {
        float[] x = LegacyQuantTests.RandomRow(2048, 77);
        TieRow().CopyTo(x, 0);
        var v = new byte[32];
        var s = new byte[32];
        for (int b = 0; b < x.Length / 32; b++)
        {
            float dv = LegacyQuantMath.QuantizeQ8Block(x.AsSpan(b * 32, 32), ref v[0], out int sumV);
            float ds = LegacyQuantMath.QuantizeQ8BlockScalar(x.AsSpan(b * 32, 32), ref s[0], out int sumS);
            Assert.Equal(BitConverter.SingleToUInt32Bits(ds), BitConverter.SingleToUInt32Bits(dv));
            Assert.Equal(sumS, sumV);
            Assert.Equal(s, v);
        }
    }

    [Fact]
    public void Q8_1StoresSFromTheUnroundedD()
    {
        // amax 100: d = 100/127 is not an F16; s must be F16(d_f32 * sum), not F16(F16(d) * sum).
        var x = new float[32];
        x[0] = 100f;
        for (int j = 1; j < 32; j++) x[j] = 37.3f;
        var bytes = new byte[ActivationQ8_1.BlockBytes];
        ActivationQ8_1.Quantize(x, bytes);
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += (sbyte)bytes[4 + j];
        Assert.Equal(127 + 31 * 47, sum); // 37.3 * 1.27 = 47.371 -> 47
        Assert.Equal(BitConverter.HalfToUInt16Bits((Half)(100f / 127f * sum)), BitConverter.ToUInt16(bytes, 2));
    }

    /// <summary>Bit patterns (not floats, so that NaN payloads stay distinct test cases).</summary>
    public static TheoryData<uint> SpecialFloats()
    {
        float[] values =
        [
            0f, -0f, 1f, -1f, 65504f, 65519.99f, 65520f, -65520f, 1e6f, float.PositiveInfinity, float.NegativeInfinity,
            5.9604645e-8f /* 2^-24, smallest F16 subnormal */, 2.9802322e-8f /* 2^-25: tie, to 0 */,
            8.940697e-8f /* 1.5 * 2^-24: tie, to even 2^-23 */, 6.1035156e-5f /* smallest F16 normal */,
            1.00048828125f /* 1 + 2^-11: tie, to 1 */, 1.00146484375f /* 1 + 3*2^-11: tie, to 1 + 2^-9 */,
        ];
        var data = new TheoryData<uint>();
        foreach (float v in values)
            data.Add(BitConverter.SingleToUInt32Bits(v));
        foreach (uint bits in new uint[] {
            0x3F808000 /* BF16 tie, even stays */, 0x3F818000 /* BF16 tie, odd rounds up */, 0x7F7FFFFF /* largest float */,
            0x00000001 /* smallest subnormal */, 0x807FFFFF /* largest negative subnormal */, 0x7FC00001 /* quiet NaN */,
            0x7F800001 /* signalling NaN */, 0xFFFF1234 /* negative NaN */ })
            data.Add(bits);
        return data;
    }

    [Theory]
    [MemberData(nameof(SpecialFloats))]
    public void F16ActivationsRoundToNearestEven(uint bits)
    {
        float value = BitConverter.UInt32BitsToSingle(bits);
        // Put the value at every position of a 40-long row so that vector bodies and scalar tails both see it.
        for (int pos = 0; pos < 40; pos += 13)
        {
            float[] x = LegacyQuantTests.RandomRow(40, pos);
            x[pos] = value;
            var bytes = new byte[80];
            RowF16.Quantize(x, bytes);
            for (int i = 0; i < x.Length; i++)
            {
                Half expected = (Half)x[i];
                ushort got = BitConverter.ToUInt16(bytes, 2 * i);
                if (Half.IsNaN(expected))
                    Assert.True(Half.IsNaN(BitConverter.UInt16BitsToHalf(got)));
                else
                    Assert.Equal(BitConverter.HalfToUInt16Bits(expected), got);
            }
        }
    }

    /// <summary>ggml_compute_fp32_to_bf16, restated.</summary>
    private static ushort GgmlBf16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffff) > 0x7f800000)
            return (ushort)((u >> 16) | 64);
        return (ushort)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
    }

    [Theory]
    [MemberData(nameof(SpecialFloats))]
    public void BF16ActivationsMatchGgmlsConversion(uint bits)
    {
        float value = BitConverter.UInt32BitsToSingle(bits);
        for (int pos = 0; pos < 40; pos += 13)
        {
            float[] x = LegacyQuantTests.RandomRow(40, pos);
            x[pos] = value;
            var bytes = new byte[80];
            RowBF16.Quantize(x, bytes);
            for (int i = 0; i < x.Length; i++)
                Assert.Equal(GgmlBf16(x[i]), BitConverter.ToUInt16(bytes, 2 * i));
        }
    }

    [Fact]
    public void BF16KnownRoundings()
    {
        Assert.Equal((ushort)0x3F80, FloatConversions.SingleToBFloat16(BitConverter.UInt32BitsToSingle(0x3F808000))); // tie, even stays
        Assert.Equal((ushort)0x3F82, FloatConversions.SingleToBFloat16(BitConverter.UInt32BitsToSingle(0x3F818000))); // tie, odd rounds up
        Assert.Equal((ushort)0x7FC0, FloatConversions.SingleToBFloat16(BitConverter.UInt32BitsToSingle(0x7F800001))); // NaN made quiet
        Assert.Equal((ushort)0x7F80, FloatConversions.SingleToBFloat16(BitConverter.UInt32BitsToSingle(0x7F7FFFFF))); // overflows to inf
    }

    [Fact]
    public void HalfToSingleIsExactForEveryF16()
    {
        for (int h = 0; h <= ushort.MaxValue; h++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            float got = FloatConversions.HalfToSingle((ushort)h);
            if (float.IsNaN(expected))
                Assert.True(float.IsNaN(got), $"0x{h:X4}");
            else
                Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(got));
        }
        Assert.Equal(FloatConversions.TwoPow112, MathF.Pow(2, 112));
    }

    [Fact]
    public void F16DequantiseIsExactForEveryF16()
    {
        var bytes = new byte[2 * 65536];
        for (int h = 0; h <= ushort.MaxValue; h++)
            BitConverter.TryWriteBytes(bytes.AsSpan(2 * h), (ushort)h);
        var y = new float[65536];
        RowF16.Dequantize(bytes, y);
        for (int h = 0; h <= ushort.MaxValue; h++)
        {
            float expected = FloatConversions.HalfToSingle((ushort)h);
            Assert.True(float.IsNaN(expected) ? float.IsNaN(y[h]) : BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(y[h]), $"0x{h:X4}");
        }
    }
}
