using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Gguf;
using Tandem.Engine.Kernels;
using Tandem.Engine.Quantization;
using Tandem.Engine.Tests.Quantization;
using Xunit;

namespace Tandem.Engine.Tests.Kernels;

/// <summary>
/// Batch-1 decode runs on matrix × one-token kernels that keep several weight rows in flight (eight, four, two or one
/// per call, the last rows of a range repeated where the range is ragged). Each row's result must be bit-identical to
/// the single-pair Dot, whatever the group it lands in: every kernel this machine can run is given every row range
/// from a few starts to every length up to two groups and more, so that each group size and each ragged edge occurs;
/// then MatMul itself runs one token on a matrix big enough for whole groups in each hand-out, on one and two threads.
/// Q4_K's one-token kernels must also agree with its batch tiles (<see cref="MatMulBatchTests"/> checks both against the dot).
/// <see cref="InstructionSetRunsTests"/> runs this class again with <c>DOTNET_EnableAVX512=0</c> (the AVX2 kernels) and
/// <c>DOTNET_EnableAVX2=0</c> (MatMul on the portable kernels).
/// </summary>
public unsafe class MatMulOneTokenTests
{
    public static TheoryData<GgmlType> LegacyTypes => new() { GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0 };

    [SkippableTheory]
    [MemberData(nameof(LegacyTypes))]
    public void Legacy_one_token_kernels_give_the_single_pair_dots_for_every_row_range(GgmlType type)
    {
        Skip.IfNot(LegacyTileAvx2.IsSupported, "no AVX2 here: no one-token kernels, MatMul keeps the portable tiles");
        using var m = new TestMatrix(type, cols: 576, rows: 21, seed: 7);
        var x = MultiRowDotTests.RandomRow(new Random(8), m.Cols);
        byte[] a = MultiRowDotTests.QuantizedRow(GgmlType.Q8_0, x, m.Cols);
        byte* buffer = (byte*)NativeMemory.AlignedAlloc((nuint)Q8ActivationPanel.BytesNeeded(1, m.Cols), Q8ActivationPanel.Alignment);
        try
        {
            var panel = new Q8ActivationPanel(buffer, 1, m.Cols);
            panel.Write(0, x);
            float[] want = m.Dots(a);
            if (LegacyTileAvx512.IsSupported)
                CheckRanges(m, want, (y, b, e) => Legacy<LegacyGemvAvx512.Kernel<RowQ8_0.Q8_0Block>, LegacyGemvAvx512.Kernel<RowQ4_0.Q4_0Block>,
                    LegacyGemvAvx512.Kernel<RowQ5_0.Q5_0Block>>(type, m.W, panel, y, b, e));
            CheckRanges(m, want, (y, b, e) => Legacy<LegacyGemvAvx2.Kernel<RowQ8_0.Q8_0Block, MaddubsBlockSums>,
                LegacyGemvAvx2.Kernel<RowQ4_0.Q4_0Block, MaddubsBlockSums>, LegacyGemvAvx2.Kernel<RowQ5_0.Q5_0Block, MaddubsBlockSums>>(type, m.W, panel, y, b, e));
            if (AvxVnni.IsSupported)
                CheckRanges(m, want, (y, b, e) => Legacy<LegacyGemvAvx2.Kernel<RowQ8_0.Q8_0Block, VnniBlockSums>,
                    LegacyGemvAvx2.Kernel<RowQ4_0.Q4_0Block, VnniBlockSums>, LegacyGemvAvx2.Kernel<RowQ5_0.Q5_0Block, VnniBlockSums>>(type, m.W, panel, y, b, e));
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    /// <summary>
    /// Q4_K with one, three and eight super-blocks per row (the TinyLlama-1.1B width), some rows all zero (d and dmin 0)
    /// and some with one large weight (a few big scales beside small ones, the mins term far from zero), on the AVX-512
    /// kernel and both AVX2 kernels where this machine has them.
    /// </summary>
    [SkippableTheory]
    [InlineData(256)]
    [InlineData(768)]
    [InlineData(2048)]
    public void Q4K_one_token_kernels_give_the_single_pair_dots_for_every_row_range(int cols)
    {
        Skip.IfNot(Q4KGemvAvx2.IsSupported, "no AVX2 here: no Q4_K one-token kernels, MatMul keeps the row dot");
        using var m = new TestMatrix(GgmlType.Q4_K, cols, rows: 21, seed: cols + 5, Skew);
        var x = MultiRowDotTests.RandomRow(new Random(cols + 6), cols);
        byte[] a = MultiRowDotTests.QuantizedRow(GgmlType.Q8_K, x, cols);
        byte* buffer = (byte*)NativeMemory.AlignedAlloc((nuint)Q8KActivationPanel.BytesNeeded(1, cols), Q8KActivationPanel.Alignment);
        try
        {
            var panel = new Q8KActivationPanel(buffer, 1, cols);
            panel.Write(0, x);
            float[] want = m.Dots(a);
            if (Q4KGemvAvx512.IsSupported)
                CheckRanges(m, want, (y, b, e) => GemvRows.Run<Q4KGemvAvx512.Kernel, Q8KActivationPanel>(m.W, panel, y, b, e));
            CheckRanges(m, want, (y, b, e) => GemvRows.Run<Q4KGemvAvx2.Kernel<MaddScaledSums>, Q8KActivationPanel>(m.W, panel, y, b, e));
            if (AvxVnni.IsSupported)
                CheckRanges(m, want, (y, b, e) => GemvRows.Run<Q4KGemvAvx2.Kernel<VnniScaledSums>, Q8KActivationPanel>(m.W, panel, y, b, e));
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    /// <summary>
    /// F16 with rows that leave a scalar tail (200) or none (576), and F16 inf/NaN in the vector part and the tail of
    /// some rows and of the token (the dot then redoes the pair as a plain sum), on the kernel of ggml's width here.
    /// </summary>
    [SkippableTheory]
    [InlineData(200, false, false)]
    [InlineData(576, false, false)]
    [InlineData(576, true, false)]
    [InlineData(200, true, false)]
    [InlineData(576, false, true)]
    public void F16_one_token_kernel_gives_the_single_pair_dots_for_every_row_range(int cols, bool rowSpecials, bool tokenSpecial)
    {
        Skip.If(GgmlSimd.Width == 0, "no ggml vector F16 dot here (GgmlSimd.Width 0): MatMul runs the portable F16 tiles, checked in MatMulBatchTests");
        using var m = new TestMatrix(GgmlType.F16, cols, rows: 21, seed: cols, rowSpecials ? Sprinkle : null);
        var x = MultiRowDotTests.RandomRow(new Random(cols + 1), cols);
        if (tokenSpecial) x[5] = float.PositiveInfinity;
        byte[] a = MultiRowDotTests.QuantizedRow(GgmlType.F16, x, cols);
        byte* buffer = (byte*)NativeMemory.AlignedAlloc((nuint)F16ActivationPanel.BytesNeeded(1, cols), F16ActivationPanel.Alignment);
        float* permuted = (float*)NativeMemory.AlignedAlloc((nuint)(F16GemvPanel.FloatsNeeded(cols) + 16) * sizeof(float), 64);
        try
        {
            var source = new F16ActivationPanel(buffer, 1, cols);
            source.Write(0, x);
            var panel = new F16GemvPanel(source, permuted);
            float[] want = m.Dots(a);
            if (GgmlSimd.Width == 16)
            {
                CheckRanges(m, want, (y, b, e) => GemvRows.Run<F16GemvAvx512.Kernel<Count4>, F16GemvPanel>(m.W, panel, y, b, e));
                CheckRanges(m, want, (y, b, e) => GemvRows.Run<F16GemvAvx512.Kernel<Count2>, F16GemvPanel>(m.W, panel, y, b, e));
                CheckRanges(m, want, (y, b, e) => GemvRows.Run<F16GemvAvx512.Kernel<Count1>, F16GemvPanel>(m.W, panel, y, b, e));
            }
            else
                CheckRanges(m, want, (y, b, e) => GemvRows.Run<F16GemvAvx2.Kernel, F16GemvPanel>(m.W, panel, y, b, e));
        }
        finally
        {
            NativeMemory.AlignedFree(permuted);
            NativeMemory.AlignedFree(buffer);
        }
    }

    /// <summary>
    /// MatMul with one token: hand-outs of several whole groups plus ragged ends, on one and two threads, on every
    /// SIMD path this machine has (the portable path gives the scalar dot's results, checked in MatMulBatchTests).
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q8_0, 576)]
    [InlineData(GgmlType.Q5_0, 576)]
    [InlineData(GgmlType.Q4_0, 1536)]
    [InlineData(GgmlType.Q4_K, 768)]
    [InlineData(GgmlType.F16, 576)]
    [InlineData(GgmlType.F16, 200)]
    [InlineData(GgmlType.F16, 2048)]
    [InlineData(GgmlType.F16, 5632)]
    public void MatMul_of_one_token_gives_the_single_pair_dots(GgmlType type, int cols)
    {
        using var m = new TestMatrix(type, cols, rows: 517, seed: 3);
        var x = MultiRowDotTests.RandomRow(new Random(4), cols);
        float[] want = m.Dots(MultiRowDotTests.QuantizedRow(RowKernels.DotType(type), x, cols));
        var paths = new[] { MatMulKernelPath.Auto, MatMulKernelPath.Avx512, MatMulKernelPath.Avx2Vnni, MatMulKernelPath.Avx2 }
            .Where(LegacyTiledMatMul.IsSupported);
        foreach (var path in paths)
            foreach (int threads in new[] { 1, 2 })
            {
                using var team = new ThreadTeam(threads);
                var matMul = new MatMul(team, 1, cols, kernelPath: path);
                float[] y = new float[m.Rows];
                matMul.Run(m.W, x, y, 1);
                for (int r = 0; r < m.Rows; r++)
                    Assert.True(BitConverter.SingleToInt32Bits(want[r]) == BitConverter.SingleToInt32Bits(y[r]),
                        $"{type} on {matMul.KernelPath}, {threads} threads, row {r}: matmul {y[r]:R}, dot {want[r]:R}");
            }
    }

    private static void Legacy<TQ8, TQ4, TQ5>(GgmlType type, in WeightMatrix w, in Q8ActivationPanel panel, float* y, int begin, int end)
        where TQ8 : IGemvKernel<Q8ActivationPanel>
        where TQ4 : IGemvKernel<Q8ActivationPanel>
        where TQ5 : IGemvKernel<Q8ActivationPanel>
    {
        switch (type)
        {
            case GgmlType.Q8_0: GemvRows.Run<TQ8, Q8ActivationPanel>(w, panel, y, begin, end); break;
            case GgmlType.Q4_0: GemvRows.Run<TQ4, Q8ActivationPanel>(w, panel, y, begin, end); break;
            default: GemvRows.Run<TQ5, Q8ActivationPanel>(w, panel, y, begin, end); break;
        }
    }

    private delegate void RangeRun(float* y, int begin, int end);

    /// <summary>
    /// Every range [begin, end) with begin 0..2 and every end after it: exactly the range's rows are written (the
    /// others keep a sentinel, so a ragged group's repeated rows must not leak), each equal to the dot bit for bit.
    /// </summary>
    private static void CheckRanges(TestMatrix m, float[] want, RangeRun run)
    {
        float[] y = new float[m.Rows];
        for (int begin = 0; begin <= 2; begin++)
            for (int end = begin + 1; end <= m.Rows; end++)
            {
                Array.Fill(y, -12345f);
                fixed (float* yp = y) run(yp, begin, end);
                for (int r = 0; r < m.Rows; r++)
                {
                    float expected = r >= begin && r < end ? want[r] : -12345f;
                    Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(y[r]),
                        $"{m.W.Type}, rows {begin}..{end - 1}, row {r}: kernel {y[r]:R}, expected {expected:R}");
                }
            }
    }

    /// <summary>Every fifth row all zeros, every third one weight a hundred times the others.</summary>
    private static void Skew(float[] row, int index)
    {
        if (index % 5 == 2) Array.Clear(row);
        else if (index % 3 == 0) row[(37 * index) % row.Length] *= 100;
    }

    /// <summary>Every third row gets an inf or NaN in its vector part, every fourth a NaN at its last element (the tail).</summary>
    private static void Sprinkle(float[] row, int index)
    {
        if (index % 3 == 0) row[7 + index % 40] = index % 2 == 0 ? float.NegativeInfinity : float.NaN;
        if (index % 4 == 1) row[^1] = float.NaN;
    }

    /// <summary>A weight matrix of random rows in native memory, as the model's are (64-byte aligned).</summary>
    private sealed class TestMatrix : IDisposable
    {
        private readonly byte* _data;
        public readonly WeightMatrix W;
        public int Rows => W.Rows;
        public int Cols => W.Cols;

        public TestMatrix(GgmlType type, int cols, int rows, int seed, Action<float[], int>? alter = null)
        {
            var rng = new Random(seed);
            long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
            _data = (byte*)NativeMemory.AlignedAlloc((nuint)(rows * rowBytes), 64);
            for (int r = 0; r < rows; r++)
            {
                float[] row = MultiRowDotTests.RandomRow(rng, cols);
                alter?.Invoke(row, r);
                MultiRowDotTests.QuantizedRow(type, row, cols).CopyTo(new Span<byte>(_data + r * rowBytes, (int)rowBytes));
            }
            W = new WeightMatrix(new GgufTensorInfo("w", [cols, rows], type, 0, rows * rowBytes) { Data = _data });
        }

        /// <summary>Each row's single-pair Dot with <paramref name="activation"/> (a row of the dot type).</summary>
        public float[] Dots(byte[] activation)
        {
            var want = new float[Rows];
            for (int r = 0; r < Rows; r++)
                want[r] = RowKernels.Dot(W.Type, W.Row(r), activation, Cols);
            return want;
        }

        public void Dispose() => NativeMemory.AlignedFree(_data);
    }
}
