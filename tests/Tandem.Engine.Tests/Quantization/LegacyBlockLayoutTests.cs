using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Tests.Quantization;

/// <summary>Known-answer blocks, worked out by hand from ggml's block layouts and reference quantisers.</summary>
public class LegacyBlockLayoutTests
{
    private static byte[] Quantize(GgmlType type, float[] x)
    {
        var bytes = new byte[GgmlTypeInfo.RowBytes(type, x.Length)];
        RowKernels.Quantize(type, x, bytes);
        return bytes;
    }

    private static float[] Dequantize(GgmlType type, byte[] bytes, int n)
    {
        var y = new float[n];
        RowKernels.Dequantize(type, bytes, y);
        return y;
    }

    private static byte[] Bytes(ushort d, params byte[] rest) => [(byte)d, (byte)(d >> 8), .. rest];

    [Fact]
    public void Q4_0Block()
    {
        // -8..7 then zeros: the extreme is -8, so d = -8 / -8 = 1 and q = x + 8; low nibbles hold elements 0..15.
        float[] x = [.. Enumerable.Range(0, 16).Select(j => j - 8f), .. new float[16]];
        byte[] expected = Bytes(0x3C00, [.. Enumerable.Range(0, 16).Select(j => (byte)(0x80 | j))]);
        Assert.Equal(expected, Quantize(GgmlType.Q4_0, x));
        Assert.Equal(x, Dequantize(GgmlType.Q4_0, expected, 32));
    }

    [Fact]
    public void Q4_0ZeroBlockHasNegativeZeroScale()
    {
        // ggml: max stays 0, d = 0 / -8 = -0.0 (F16 0x8000), every quant is (int)(0 + 8.5) = 8.
        Assert.Equal(Bytes(0x8000, [.. Enumerable.Repeat((byte)0x88, 16)]), Quantize(GgmlType.Q4_0, new float[32]));
    }

    [Fact]
    public void Q4_1Block()
    {
        // 0..15 then 15..0: min 0, max 15, d = 1, m = 0, q = x.
        float[] x = [.. Enumerable.Range(0, 16).Select(j => (float)j), .. Enumerable.Range(0, 16).Select(j => 15f - j)];
        byte[] expected = [0x00, 0x3C, 0x00, 0x00, .. Enumerable.Range(0, 16).Select(j => (byte)(j | ((15 - j) << 4)))];
        Assert.Equal(expected, Quantize(GgmlType.Q4_1, x));
        Assert.Equal(x, Dequantize(GgmlType.Q4_1, expected, 32));
    }

    [Fact]
    public void Q5_0Block()
    {
        // -16..-1 then 0..15: d = -16 / -16 = 1, q = x + 16; the fifth bit is set exactly for elements 16..31.
        float[] x = [.. Enumerable.Range(0, 16).Select(j => j - 16f), .. Enumerable.Range(0, 16).Select(j => (float)j)];
        byte[] expected = [0x00, 0x3C, 0x00, 0x00, 0xFF, 0xFF, .. Enumerable.Range(0, 16).Select(j => (byte)(j | (j << 4)))];
        Assert.Equal(expected, Quantize(GgmlType.Q5_0, x));
        Assert.Equal(x, Dequantize(GgmlType.Q5_0, expected, 32));
        // zero block: d = -0, q = 16 -> nibble 0 with the fifth bit set everywhere
        Assert.Equal(Bytes(0x8000, [0xFF, 0xFF, 0xFF, 0xFF, .. new byte[16]]), Quantize(GgmlType.Q5_0, new float[32]));
    }

    [Fact]
    public void Q5_1Block()
    {
        // 0..31 with an odd pattern in qh: min 0, max 31, d = 1, q = x.
        float[] x = [.. Enumerable.Range(0, 32).Select(j => (float)((j * 7) % 32))];
        uint qh = 0;
        for (int j = 0; j < 32; j++)
            qh |= (uint)(((j * 7) % 32) >> 4) << j;
        byte[] expected = [0x00, 0x3C, 0x00, 0x00, (byte)qh, (byte)(qh >> 8), (byte)(qh >> 16), (byte)(qh >> 24),
            .. Enumerable.Range(0, 16).Select(j => (byte)((((j * 7) % 32) & 15) | ((((j + 16) * 7) % 32) & 15) << 4))];
        Assert.Equal(expected, Quantize(GgmlType.Q5_1, x));
        Assert.Equal(x, Dequantize(GgmlType.Q5_1, expected, 32));
    }

    [Fact]
    public void Q8_0Block()
    {
        // -16..15: d = 16/127, id = 127/16 = 7.9375 exactly; q = x * 7.9375 rounded half to even.
        float[] x = [.. Enumerable.Range(0, 32).Select(j => j - 16f)];
        byte[] bytes = Quantize(GgmlType.Q8_0, x);
        Assert.Equal(BitConverter.HalfToUInt16Bits((Half)(16f / 127f)), BitConverter.ToUInt16(bytes, 0));
        sbyte Q(float v) => (sbyte)bytes[2 + (int)v + 16];
        Assert.Equal(-127, Q(-16));
        Assert.Equal(64, Q(8));    // 63.5, a tie
        Assert.Equal(-64, Q(-8));  // -63.5
        Assert.Equal(32, Q(4));    // 31.75
        Assert.Equal(8, Q(1));     // 7.9375
        Assert.Equal(0, Q(0));
        Assert.Equal(119, Q(15));  // 119.0625
    }

    [Fact]
    public void BlockSizesMatchGgml()
    {
        Assert.Equal(RowQ4_0.BlockBytes, GgmlTypeInfo.BlockBytes(GgmlType.Q4_0));
        Assert.Equal(RowQ4_1.BlockBytes, GgmlTypeInfo.BlockBytes(GgmlType.Q4_1));
        Assert.Equal(RowQ5_0.BlockBytes, GgmlTypeInfo.BlockBytes(GgmlType.Q5_0));
        Assert.Equal(RowQ5_1.BlockBytes, GgmlTypeInfo.BlockBytes(GgmlType.Q5_1));
        Assert.Equal(RowQ8_0.BlockBytes, GgmlTypeInfo.BlockBytes(GgmlType.Q8_0));
        Assert.Equal(ActivationQ8_1.BlockBytes, GgmlTypeInfo.BlockBytes(GgmlType.Q8_1));
    }
}
