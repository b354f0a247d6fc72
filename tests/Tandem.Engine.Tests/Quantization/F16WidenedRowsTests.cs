using System.Runtime.InteropServices;
using Tandem.Engine.Kernels;
using Tandem.Engine.Quantization;
using Xunit;

namespace Tandem.Engine.Tests.Quantization;

/// <summary>
/// The widened rows the F16 row tiles read: at ggml width 8 each of ggml's four accumulator chains stored contiguously
/// (chain j of step s at <c>ChainStart(vectorEnd, j) + 8s</c>), at width 16 element order; every value the exact
/// F16 → F32 widening, and the inf/NaN flag raised only by specials inside the vector part. Row lengths: one step, an
/// odd number of steps (chains that do not start on a cache line) and many steps; <see cref="InstructionSetRunsTests"/>
/// reruns it at ggml width 8 (<c>DOTNET_EnableAVX512=0</c>).
/// </summary>
public unsafe class F16WidenedRowsTests
{
    [SkippableTheory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(65)]
    public void Rows_are_widened_exactly_each_chain_contiguous_at_width_8(int steps)
    {
        Skip.If(GgmlSimd.Width == 0, "ggml has no vector F16 dot here: the row tiles, and this layout, are not used");
        int width = GgmlSimd.Width, vectorEnd = steps * 4 * width;
        var rng = new Random(steps);
        ushort[] row = new ushort[vectorEnd + 5]; // a tail the widening must leave alone
        for (int i = 0; i < row.Length; i++)
            row[i] = (ushort)((rng.Next(2) << 15) | (rng.Next(31) << 10) | rng.Next(1024)); // finite: sign, exponent 0..30, mantissa
        float* dst = (float*)NativeMemory.AlignedAlloc((nuint)(F16WidenedRows.Stride(row.Length) * sizeof(float)), 64);
        try
        {
            fixed (ushort* p = row)
            {
                Assert.False(F16WidenedRows.Widen(p, vectorEnd, dst));
                for (int s = 0; s < steps; s++)
                    for (int j = 0; j < 4; j++)
                        for (int e = 0; e < width; e++)
                        {
                            float expected = FloatConversions.HalfToSingle(row[4 * width * s + j * width + e]);
                            int at = width == 8 ? F16WidenedRows.ChainStart(vectorEnd, j) + 8 * s + e : 4 * width * s + j * width + e;
                            float got = dst[at];
                            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(got));
                        }

                row[vectorEnd] = 0x7C00; // an inf in the tail: not the widening's concern
                Assert.False(F16WidenedRows.Widen(p, vectorEnd, dst));
                row[vectorEnd - 1] = 0xFE00; // a NaN in the last chain's last step
                Assert.True(F16WidenedRows.Widen(p, vectorEnd, dst));
            }
        }
        finally
        {
            NativeMemory.AlignedFree(dst);
        }
    }
    /// <summary>
    /// The unpacking widening (AVX-512 BW) that the row tiles use against an <see cref="F16UnpackedPanel"/>: per 32
    /// elements, elements 8q..8q+3 of each quarter q then 8q+4..8q+7 (<see cref="F16UnpackedPanel"/>'s lane order), each
    /// exactly the F16 value times 2^-112 (F16 subnormals as F32 subnormals); the inf/NaN flag only from the vector part.
    /// </summary>
    [SkippableTheory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(65)]
    public void Unpacked_rows_are_the_exact_values_in_unpack_order_times_2_to_the_minus_112(int steps)
    {
        Skip.IfNot(GgmlSimd.Width == 16 && System.Runtime.Intrinsics.X86.Avx512BW.IsSupported,
            "the unpacked widening runs at ggml width 16 with AVX-512 BW only");
        int vectorEnd = steps * 64;
        var rng = new Random(100 + steps);
        ushort[] row = new ushort[vectorEnd + 5];
        for (int i = 0; i < row.Length; i++)
            row[i] = (ushort)((rng.Next(2) << 15) | (rng.Next(31) << 10) | rng.Next(1024)); // finite, subnormals included
        float* dst = (float*)NativeMemory.AlignedAlloc((nuint)(F16WidenedRows.Stride(row.Length) * sizeof(float)), 64);
        try
        {
            fixed (ushort* p = row)
            {
                Assert.False(F16WidenedRows.WidenUnpacked(p, vectorEnd, dst));
                for (int c = 0; c < vectorEnd; c += 32)
                    for (int lane = 0; lane < 32; lane++)
                    {
                        int e = c + 8 * (lane % 16 / 4) + (lane >= 16 ? 4 : 0) + lane % 4;
                        double expected = (double)FloatConversions.HalfToSingle(row[e]) * Math.Pow(2, -112);
                        Assert.Equal(expected, (double)dst[c + lane]);
                    }

                row[vectorEnd] = 0x7C00; // an inf in the tail: not the widening's concern
                Assert.False(F16WidenedRows.WidenUnpacked(p, vectorEnd, dst));
                row[vectorEnd - 1] = 0xFE00; // a NaN in the last step
                Assert.True(F16WidenedRows.WidenUnpacked(p, vectorEnd, dst));
                row[vectorEnd - 1] = 0x3C00;
                row[0] = 0x7C00; // an inf in the first
                Assert.True(F16WidenedRows.WidenUnpacked(p, vectorEnd, dst));
            }
        }
        finally
        {
            NativeMemory.AlignedFree(dst);
        }
    }
}
