using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Tests.Quantization;

/// <summary>
/// Bit-for-bit comparison with ggml's own functions (AVX2 build shipped with LLamaSharp.Backend.Cpu): reference
/// quantisers, dequantisers, the AVX2 activation quantisers and the AVX2 dot products.
/// Each test needs that build and is reported as skipped, with the reason, on a machine that cannot run it.
/// </summary>
public class LegacyGgmlOracleTests
{
    public static TheoryData<GgmlType, string> QuantTypes() => new()
    {
        { GgmlType.Q4_0, "q4_0" }, { GgmlType.Q4_1, "q4_1" }, { GgmlType.Q5_0, "q5_0" }, { GgmlType.Q5_1, "q5_1" }, { GgmlType.Q8_0, "q8_0" },
    };

    private static IEnumerable<float[]> Rows()
    {
        foreach (int n in new[] { 32, 256, 4096 })
            foreach (float offset in new[] { 0f, 0.7f, -3f })
                yield return LegacyQuantTests.RandomRow(n, 31 * n + (int)(offset * 10), offset);
        var zeros = LegacyQuantTests.RandomRow(128, 8);
        Array.Clear(zeros, 32, 32);
        zeros[100] = 1000f;
        yield return zeros;
        yield return LegacyActivationQuantTests.TieRow();
        // Blocks whose scale comes out exactly 1 for Q4_0, Q5_0, Q4_1 and Q5_1 in turn, with .5 values: the
        // weight quantisers' (int)(x + 8.5f) style rounding (half up) must be matched, not round-to-even.
        float[] halves = [3.5f, 2.5f, -1.5f, 0.5f, -0.5f, 6.5f, 4.5f, -2.5f, 1.5f, -3.5f, 5.5f, 7.5f, -6.5f];
        var ties = new float[128];
        float[] firsts = [-8f, -16f, 0f, 0f];
        float[] seconds = [0f, 0f, 15f, 31f];
        for (int b = 0; b < 4; b++)
        {
            ties[32 * b] = firsts[b];
            ties[32 * b + 1] = seconds[b];
            for (int j = 0; j < halves.Length; j++)
                ties[32 * b + 2 + j] = b < 2 ? halves[j] : Math.Abs(halves[j]) + (b == 3 ? 16 : 0);
        }
        yield return ties;
    }

    [SkippableTheory]
    [MemberData(nameof(QuantTypes))]
    public void WeightQuantiseAndDequantiseMatchGgml(GgmlType type, string name)
    {
        var ggml = GgmlCpuLibrary.Require();
        foreach (float[] x in Rows())
        {
            int rowBytes = (int)GgmlTypeInfo.RowBytes(type, x.Length);
            var ours = new byte[rowBytes];
            RowKernels.Quantize(type, x, ours);
            // Q8_0 weights use the AVX2 activation semantics (see RowQ8_0.Quantize), the others ggml's _ref.
            byte[] theirs = type == GgmlType.Q8_0
                ? ggml.Quantize("quantize_row_q8_0", cpu: true, x, rowBytes)
                : ggml.Quantize($"quantize_row_{name}_ref", cpu: false, x, rowBytes);
            Assert.Equal(theirs, ours);

            var deq = new float[x.Length];
            RowKernels.Dequantize(type, ours, deq);
            Assert.Equal(ggml.Dequantize($"dequantize_row_{name}", ours, x.Length), deq);
        }
    }

    [SkippableFact]
    public void ActivationQuantisersMatchGgmlsAvx2Path()
    {
        var ggml = GgmlCpuLibrary.Require();
        foreach (float[] x in Rows())
        {
            var q8_0 = new byte[x.Length / 32 * RowQ8_0.BlockBytes];
            RowQ8_0.Quantize(x, q8_0);
            Assert.Equal(ggml.Quantize("quantize_row_q8_0", cpu: true, x, q8_0.Length), q8_0);
            var q8_1 = new byte[x.Length / 32 * ActivationQ8_1.BlockBytes];
            ActivationQ8_1.Quantize(x, q8_1);
            Assert.Equal(ggml.Quantize("quantize_row_q8_1", cpu: true, x, q8_1.Length), q8_1);
        }
    }

    [SkippableFact]
    public void F16AndBF16ActivationConversionsMatchGgml()
    {
        var ggml = GgmlCpuLibrary.Require();
        foreach (int n in new[] { 7, 64, 1000 })
        {
            float[] x = LegacyQuantTests.RandomRow(n, n);
            x[n / 2] = 70000f;        // F16 overflow
            x[n / 3] = 3e-6f;         // F16 subnormal
            x[0] = BitConverter.UInt32BitsToSingle(0x3F808000); // BF16 tie
            var f16 = new byte[2 * n];
            RowF16.Quantize(x, f16);
            Assert.Equal(ggml.ConvertRow("ggml_cpu_fp32_to_fp16", x), f16);
            var bf16 = new byte[2 * n];
            RowBF16.Quantize(x, bf16);
            Assert.Equal(ggml.ConvertRow("ggml_cpu_fp32_to_bf16", x), bf16);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(QuantTypes))]
    public void QuantisedDotsAreBitIdenticalToGgmlsAvx2Dots(GgmlType type, string name)
    {
        var ggml = GgmlCpuLibrary.Require();
        string activation = RowKernels.DotType(type) == GgmlType.Q8_1 ? "q8_1" : "q8_0";
        foreach (float[] w in Rows())
        {
            int n = w.Length;
            var c = LegacyQuantCase.Of(type);
            byte[] wq = c.Quantize(w);
            byte[] aq = c.QuantizeActivations(LegacyQuantTests.RandomRow(n, n + 5, 0.1f));
            float theirs = ggml.Dot($"ggml_vec_dot_{name}_{activation}", wq, aq, n);
            float ours = RowKernels.Dot(type, wq, aq, n);
            // Same operations in the same order (per-block FMA into 8 lanes, ggml's horizontal sum).
            Assert.Equal(BitConverter.SingleToUInt32Bits(theirs), BitConverter.SingleToUInt32Bits(ours));
        }
    }

    [SkippableTheory]
    [InlineData(GgmlType.F16, "ggml_vec_dot_f16")]
    [InlineData(GgmlType.BF16, "ggml_vec_dot_bf16")]
    public void FloatDotsAgreeWithGgmlToFloatRounding(GgmlType type, string function)
    {
        var ggml = GgmlCpuLibrary.Require();
        var c = LegacyQuantCase.Of(type);
        foreach (int n in new[] { 8, 100, 4096 })
        {
            byte[] w = c.Quantize(LegacyQuantTests.RandomRow(n, n));
            byte[] a = c.QuantizeActivations(LegacyQuantTests.RandomRow(n, n + 1));
            (double reference, double tolerance) = LegacyQuantTests.Reference(c, w, a, n);
            float theirs = ggml.Dot(function, w, a, n);
            Assert.True(Math.Abs(theirs - reference) <= tolerance, $"ggml {theirs} vs reference {reference}");
            Assert.True(Math.Abs(RowKernels.Dot(type, w, a, n) - theirs) <= 2 * tolerance);
        }
    }
}
