using System.Runtime.InteropServices;
using Tandem.Engine.Gguf;
using Tandem.Engine.Kernels;
using Tandem.Engine.Quantization;
using Tandem.Engine.Tests.Quantization;
using Xunit;

namespace Tandem.Engine.Tests.Kernels;

/// <summary>
/// Matrices that read the same activations (Q, K and V; gate and up) run as one matmul: the activations are converted
/// once, and the team runs one job over all their rows. Each (row, token) must still be bitwise what a matmul of its
/// matrix alone gives (which <see cref="MatMulBatchTests"/> checks against the single-pair dot), with row counts that
/// leave ragged tiles so that team chunks span two matrices, for every batch size up to 19, on every kernel path here;
/// an <see cref="IActivationStep"/> must run exactly once per token; matrices that cannot share (other kernels or
/// activation types) fall back to separate matmuls with the same results.
/// </summary>
public unsafe class MatMulSharedActivationsTests
{
    private static readonly MatMulKernelPath[] Paths =
        [MatMulKernelPath.Avx512, MatMulKernelPath.Avx2Vnni, MatMulKernelPath.Avx2, MatMulKernelPath.Portable];

    public static TheoryData<GgmlType, GgmlType, GgmlType, int, MatMulKernelPath> Cases()
    {
        var data = new TheoryData<GgmlType, GgmlType, GgmlType, int, MatMulKernelPath>();
        foreach (var path in Paths.Where(LegacyTiledMatMul.IsSupported))
        {
            data.Add(GgmlType.Q8_0, GgmlType.Q8_0, GgmlType.Q8_0, 576, path);
            data.Add(GgmlType.Q5_0, GgmlType.Q4_0, GgmlType.Q8_0, 576, path); // one Q8_0 panel for three weight types
            data.Add(GgmlType.Q4_K, GgmlType.Q4_K, GgmlType.Q4_K, 512, path);
            data.Add(GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K, 512, path); // no sharing: three matmuls
        }
        data.Add(GgmlType.F16, GgmlType.F16, GgmlType.F16, 200, MatMulKernelPath.Auto);
        data.Add(GgmlType.Q6_K, GgmlType.Q6_K, GgmlType.Q6_K, 256, MatMulKernelPath.Auto); // row by row, shared Q8_K rows
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Shared_matmuls_give_each_matrix_its_own_results(GgmlType t0, GgmlType t1, GgmlType t2, int cols, MatMulKernelPath path)
    {
        const int maxTokens = 19;
        int[] rows = [37, 14, 11]; // ragged tiles in every matrix: chunks of the shared job cross from one to the next
        var rng = new Random(cols + (int)t0 * 7 + (int)t1 * 31 + (int)t2 * 101);
        var mats = new[] { t0, t1, t2 }.Select((t, i) => new TestMatrix(t, cols, rows[i], rng)).ToArray();
        try
        {
            float[] x = new float[maxTokens * cols];
            for (int t = 0; t < maxTokens; t++) MultiRowDotTests.RandomRow(rng, cols).CopyTo(x, t * cols);
            float[] stepped = x.Select(v => v + 0.25f).ToArray();

            using var team = new ThreadTeam(2);
            var matMul = new MatMul(team, maxTokens, cols, kernelPath: path);
            for (int n = 1; n <= maxTokens; n++)
            {
                // Alone, on the rows the step would produce.
                var want = mats.Select(m => { var y = new float[n * m.W.Rows]; matMul.Run(m.W, stepped.AsSpan(0, n * cols), y, n); return y; }).ToArray();

                var two = mats.Take(2).Select(m => new float[n * m.W.Rows]).ToArray();
                float[] input = (float[])x.Clone();
                matMul.Run(input, n, mats[0].W, two[0], mats[1].W, two[1], new AddToRow(input, cols, 0.25f));
                Same(want[0], two[0], $"{t0} of two, batch {n}");
                Same(want[1], two[1], $"{t1} of two, batch {n}");

                var three = mats.Select(m => new float[n * m.W.Rows]).ToArray();
                input = (float[])x.Clone();
                matMul.Run(input, n, mats[0].W, three[0], mats[1].W, three[1], mats[2].W, three[2], new AddToRow(input, cols, 0.25f));
                for (int i = 0; i < 3; i++) Same(want[i], three[i], $"{mats[i].W.Type} of three, batch {n}");
                // The step ran once per token: the input holds its rows, not rows it was applied to twice.
                Assert.Equal(stepped.AsSpan(0, n * cols).ToArray(), input.AsSpan(0, n * cols).ToArray());
            }
        }
        finally
        {
            foreach (var m in mats) m.Dispose();
        }
    }

    /// <summary>Q, K and V of one type at a 16-token batch: one job fills the panel, one runs every row (before: six).</summary>
    [Fact]
    public void Three_matrices_that_share_activations_cost_the_team_two_jobs()
    {
        const int cols = 576, n = 16;
        var rng = new Random(3);
        var mats = new[] { 64, 24, 24 }.Select(r => new TestMatrix(GgmlType.Q8_0, cols, r, rng)).ToArray();
        try
        {
            float[] x = new float[n * cols];
            for (int t = 0; t < n; t++) MultiRowDotTests.RandomRow(rng, cols).CopyTo(x, t * cols);
            var ys = mats.Select(m => new float[n * m.W.Rows]).ToArray();
            using var team = new ThreadTeam(2);
            var matMul = new MatMul(team, n, cols);
            long before = team.JobsRun;
            matMul.Run(x, n, mats[0].W, ys[0], mats[1].W, ys[1], mats[2].W, ys[2]);
            Assert.Equal(2, team.JobsRun - before);
        }
        finally
        {
            foreach (var m in mats) m.Dispose();
        }
    }

    private static void Same(float[] want, float[] got, string what)
    {
        for (int i = 0; i < want.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(want[i]) == BitConverter.SingleToInt32Bits(got[i]),
                $"{what}, element {i}: shared {got[i]:R}, alone {want[i]:R}");
    }

    /// <summary>A step that adds a constant to token t's row in place (applied twice, it would show).</summary>
    private sealed class AddToRow(float[] x, int cols, float value) : IActivationStep
    {
        public void Apply(int token)
        {
            for (int i = token * cols; i < (token + 1) * cols; i++) x[i] += value;
        }
    }

    /// <summary>Random weights of one type in 64-byte aligned native memory, as a memory-mapped file gives them.</summary>
    private sealed class TestMatrix : IDisposable
    {
        private readonly byte* _data;
        public WeightMatrix W { get; }

        public TestMatrix(GgmlType type, int cols, int rows, Random rng)
        {
            long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
            _data = (byte*)NativeMemory.AlignedAlloc((nuint)(rows * rowBytes), 64);
            for (int r = 0; r < rows; r++)
                MultiRowDotTests.QuantizedRow(type, MultiRowDotTests.RandomRow(rng, cols), cols)
                    .CopyTo(new Span<byte>(_data + r * rowBytes, (int)rowBytes));
            W = new WeightMatrix(new GgufTensorInfo($"w{type}", [cols, rows], type, 0, rows * rowBytes) { Data = _data });
        }

        public void Dispose() => NativeMemory.AlignedFree(_data);
    }
}
