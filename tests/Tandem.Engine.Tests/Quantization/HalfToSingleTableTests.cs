using Tandem.Engine.Quantization;
using Xunit;

namespace Tandem.Engine.Tests.Quantization;

/// <summary>
/// The AVX2 tile kernels read weight scales from <see cref="HalfToSingleTable"/> where the single
/// dot converts them; bit-identical results need every entry to be the conversion's value, bit for bit (signed
/// zeros, subnormals, infinities and NaN payloads included), not merely an equal float.
/// </summary>
public class HalfToSingleTableTests
{
    [Fact]
    public unsafe void Every_F16_pattern_has_the_scalar_conversion_bits()
    {
        for (int h = 0; h <= 0xFFFF; h++)
        {
            uint want = BitConverter.SingleToUInt32Bits(FloatConversions.HalfToSingle((ushort)h));
            uint got = BitConverter.SingleToUInt32Bits(HalfToSingleTable.Values[h]);
            if (got != want)
                Assert.Fail($"F16 0x{h:X4}: table 0x{got:X8}, conversion 0x{want:X8}");
        }
    }
}
