using System.Runtime.InteropServices;
using Tandem.Engine.Gguf;
using Tandem.Engine.Kernels;
using Tandem.Engine.Quantization;
using Tandem.Engine.Tests.Quantization;
using Xunit;

namespace Tandem.Engine.Tests.Kernels;

/// <summary>
/// MatMul over a batch of tokens must give each (row, token) exactly the single-pair Dot result, whatever
/// the batch size (four-token groups, the one-token tail, and types without a four-row kernel).
/// </summary>
public unsafe class MatMulBatchTests
{
    [Theory]
    [InlineData(GgmlType.Q8_0, 576)]
    [InlineData(GgmlType.Q4_0, 576)]
    [InlineData(GgmlType.Q5_0, 576)]
    [InlineData(GgmlType.Q4_K, 768)]
    [InlineData(GgmlType.Q6_K, 768)]
    [InlineData(GgmlType.Q5_K, 512)]
    [InlineData(GgmlType.F16, 96)]
    public void Every_batch_size_gives_the_single_pair_dots(GgmlType type, int cols)
    {
        const int rows = 37, maxTokens = 9;
        var rng = new Random(cols + (int)type);
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        byte* data = (byte*)NativeMemory.AlignedAlloc((nuint)(rows * rowBytes), 64);
        try
        {
            for (int r = 0; r < rows; r++)
                MultiRowDotTests.QuantizedRow(type, MultiRowDotTests.RandomRow(rng, cols), cols)
                    .CopyTo(new Span<byte>(data + r * rowBytes, (int)rowBytes));
            var info = new GgufTensorInfo("w", [cols, rows], type, 0, rows * rowBytes) { Data = data };
            var w = new WeightMatrix(info);

            float[] x = new float[maxTokens * cols];
            for (int t = 0; t < maxTokens; t++)
                MultiRowDotTests.RandomRow(rng, cols).CopyTo(x, t * cols);

            using var team = new ThreadTeam(2);
            var matMul = new MatMul(team, maxTokens, cols);
            GgmlType dotType = RowKernels.DotType(type);
            for (int n = 1; n <= maxTokens; n++)
            {
                float[] y = new float[n * rows];
                matMul.Run(w, x.AsSpan(0, n * cols), y, n);
                for (int t = 0; t < n; t++)
                {
                    byte[] a = MultiRowDotTests.QuantizedRow(dotType, x.AsSpan(t * cols, cols).ToArray(), cols);
                    for (int r = 0; r < rows; r++)
                    {
                        float want = RowKernels.Dot(type, w.Row(r), a, cols);
                        float got = y[t * rows + r];
                        Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(got),
                            $"{type} batch {n}, token {t}, row {r}: matmul {got:R}, dot {want:R}");
                    }
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(data);
        }
    }
}
