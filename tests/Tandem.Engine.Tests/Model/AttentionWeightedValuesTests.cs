using Tandem.Engine.Kernels;
using Tandem.Engine.Model;

namespace Tandem.Engine.Tests.Model;

/// <summary>
/// The vectorised V·p of decode and prefill attention (F32 cache) reduces eight output elements at a time; it must
/// give bit for bit the sums of the element-by-element reduction it replaced (ggml's order for one element), in
/// both orders (ggml_vec_dot_f32's four accumulators and tinyBLAS's one), over KV cells scattered across blocks.
/// </summary>
public class AttentionWeightedValuesTests
{
    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Vector_sums_equal_the_per_element_sums(bool tinyBlas)
    {
        Skip.If(GgmlSimd.Width == 0, "no ggml SIMD order here (GgmlSimd.Width 0): attention takes the TensorPrimitives path instead");
        const int hd = 64, kvDim = 192, kvOff = 64, bs = 16;
        var rng = new Random(7);
        int[] blocks = Enumerable.Range(0, 24).OrderBy(_ => rng.Next()).ToArray();
        var values = new float[blocks.Length * bs * kvDim];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1);
        var lanes = new float[4 * GgmlSimd.Width * hd];
        foreach (int len in new[] { 1, 7, 16, 63, 64, 65, 200, 384 })
        {
            var p = new float[len];
            for (int j = 0; j < len; j++) p[j] = (float)rng.NextDouble() / len;
            var want = new float[hd];
            var got = new float[hd];
            AttentionJob.WeightedValuesScalarSums(p, blocks, bs, kvDim, kvOff, values, want, lanes, tinyBlas);
            AttentionJob.WeightedValues(p, blocks, bs, kvDim, kvOff, values, got, lanes, tinyBlas);
            for (int d = 0; d < hd; d++)
                Assert.True(BitConverter.SingleToInt32Bits(want[d]) == BitConverter.SingleToInt32Bits(got[d]),
                    $"{len} cells, element {d}: {got[d]:R}, per element {want[d]:R}");
        }
    }
}
