using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Tests.Quantization;

/// <summary>Decoding and dotting real tensors from the shared test models.</summary>
public class LegacyModelTensorTests
{
    [Theory]
    [InlineData("tinyllama-v0-q4_0.gguf", GgmlType.Q4_0)]
    [InlineData("llama2-tiny-random-f16.gguf", GgmlType.F16)]
    public void EveryTensorOfTheTypeDecodesToSaneValues(string model, GgmlType type)
    {
        using var file = GgufFile.Open(TestPaths.Model(model));
        var tensors = file.Tensors.Where(t => t.Type == type).ToList();
        Assert.NotEmpty(tensors);
        Assert.Contains(tensors, t => t.Name == "token_embd.weight");
        foreach (var t in tensors)
        {
            var row = new float[t.RowLength];
            double sumAbs = 0, maxAbs = 0;
            long zeros = 0;
            for (long r = 0; r < t.RowCount; r++)
            {
                RowKernels.Dequantize(type, t.Row(r), row);
                foreach (float v in row)
                {
                    Assert.True(float.IsFinite(v), $"{t.Name} row {r}: {v}");
                    sumAbs += Math.Abs(v);
                    maxAbs = Math.Max(maxAbs, Math.Abs(v));
                    if (v == 0) zeros++;
                }
            }
            double meanAbs = sumAbs / t.ElementCount;
            Assert.True(maxAbs < 50, $"{t.Name}: max |w| {maxAbs}");
            Assert.True(meanAbs > 1e-3, $"{t.Name}: mean |w| {meanAbs}");
            Assert.True(zeros < t.ElementCount / 2, $"{t.Name}: {zeros} zeros of {t.ElementCount}");
        }
    }

    [Fact]
    public void Q4_0ModelRowsDotLikeTheirDequantisedValues()
    {
        using var file = GgufFile.Open(TestPaths.Model("tinyllama-v0-q4_0.gguf"));
        var c = LegacyQuantCase.Q4_0;
        foreach (string name in new[] { "token_embd.weight", "blk.0.ffn_down.weight", "output.weight" })
        {
            var t = file.GetTensor(name);
            int n = (int)t.RowLength;
            byte[] a = c.QuantizeActivations(LegacyQuantTests.RandomRow(n, n));
            for (long r = 0; r < t.RowCount; r += 997)
            {
                byte[] w = t.Row(r).ToArray();
                (double reference, double tolerance) = LegacyQuantTests.Reference(c, w, a, n);
                foreach (var (path, dot) in c.DotPaths)
                    Assert.True(Math.Abs(dot(w, a, n) - reference) <= tolerance, $"{name} row {r} {path}");
            }
        }
    }

    [Fact]
    public void F16ModelRowsDecodeExactlyAndDotLikeTheirValues()
    {
        using var file = GgufFile.Open(TestPaths.Model("llama2-tiny-random-f16.gguf"));
        var t = file.GetTensor("output.weight");
        int n = (int)t.RowLength;
        var c = LegacyQuantCase.F16;
        byte[] a = c.QuantizeActivations(LegacyQuantTests.RandomRow(n, 1));
        var row = new float[n];
        for (long r = 0; r < t.RowCount; r += 101)
        {
            ReadOnlySpan<byte> bytes = t.Row(r);
            RowF16.Dequantize(bytes, row);
            for (int i = 0; i < n; i++)
                Assert.Equal((float)BitConverter.ToHalf(bytes[(2 * i)..]), row[i]);
            (double reference, double tolerance) = LegacyQuantTests.Reference(c, bytes.ToArray(), a, n);
            foreach (var (path, dot) in c.DotPaths)
                Assert.True(Math.Abs(dot(bytes.ToArray(), a, n) - reference) <= tolerance, $"row {r} {path}");
        }
    }
}
