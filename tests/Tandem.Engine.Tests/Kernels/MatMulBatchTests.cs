using System.Runtime.InteropServices;
using Tandem.Engine.Gguf;
using Tandem.Engine.Kernels;
using Tandem.Engine.Quantization;
using Tandem.Engine.Tests.Quantization;
using Xunit;

namespace Tandem.Engine.Tests.Kernels;

/// <summary>
/// MatMul over a batch of tokens must give each (row, token) exactly the single-pair Dot result, whatever
/// the batch size and wherever the pair falls in a kernel's tile: full tiles of four rows × eight tokens,
/// ragged row tiles (one to three rows left), ragged token groups (one to three pairs) and an odd last token,
/// on every kernel path this machine can run. <see cref="InstructionSetRunsTests"/> runs this class again with
/// <c>DOTNET_EnableAVX512=0</c> and <c>DOTNET_EnableAVX2=0</c>, where Auto picks the narrower paths.
/// </summary>
public unsafe class MatMulBatchTests
{
    private static readonly MatMulKernelPath[] AllPaths =
        [MatMulKernelPath.Auto, MatMulKernelPath.Avx512, MatMulKernelPath.Avx2Vnni, MatMulKernelPath.Avx2, MatMulKernelPath.Portable];

    /// <summary>
    /// The tiled types on every kernel path this machine supports (Q4_K's batches are tiled on AVX-512 only, its one
    /// token on AVX-512 and AVX2, and must give the same results through its four-token dot on the other paths).
    /// </summary>
    public static TheoryData<GgmlType, int, MatMulKernelPath> TiledCases()
    {
        var data = new TheoryData<GgmlType, int, MatMulKernelPath>();
        foreach (var path in AllPaths.Where(LegacyTiledMatMul.IsSupported))
            foreach (var (type, cols) in new[] { (GgmlType.Q8_0, 576), (GgmlType.Q4_0, 576), (GgmlType.Q5_0, 576), (GgmlType.Q8_0, 64), (GgmlType.Q4_K, 768) })
                data.Add(type, cols, path);
        return data;
    }

    [Theory]
    [MemberData(nameof(TiledCases))]
    public void Tiled_kernels_give_the_single_pair_dots_for_every_batch_size_and_ragged_edge(GgmlType type, int cols, MatMulKernelPath path)
    {
        // 39 rows: nine full tiles and three left over; the 37- and 38-row views of the same data leave one and two.
        var resolved = LegacyTiledMatMul.Resolve(path);
        foreach (int rows in new[] { 37, 38, 39 })
            CheckEveryBatchSize(type, cols, rows, maxTokens: 19, path, (w, a) =>
                resolved == MatMulKernelPath.Portable && type != GgmlType.Q4_K ? ScalarDot(type, w, a, cols) : RowKernels.Dot(type, w, a, cols));
    }

    [Theory]
    [InlineData(GgmlType.Q6_K, 768)]
    [InlineData(GgmlType.Q5_K, 512)]
    public void Every_batch_size_gives_the_single_pair_dots(GgmlType type, int cols) =>
        CheckEveryBatchSize(type, cols, rows: 37, maxTokens: 9, MatMulKernelPath.Auto, (w, a) => RowKernels.Dot(type, w, a, cols));

    /// <summary>
    /// F16 tiles (one row × six or three tokens below eight tokens, row tiles of 4 or 2 rows × 6 tokens over blocks of
    /// 16 widened rows from eight on): full and ragged token groups, rows whose length leaves a scalar tail (96, 200)
    /// or none (576), and F16 inf/NaN in some weight rows and tokens, inside the vector part (the dot then redoes the
    /// pair as a plain sum) and in the tail. 601 rows split into jobs of 32 rows (two blocks each) and a last job of
    /// 25 whose ragged block ends in a one-row tile; 70 tokens: many token groups per block and a ragged last one.
    /// Rows of 2200 and 4200 columns run each chain in chunks of columns (two or three on AVX-512, of unequal length,
    /// more on AVX2), carried from chunk to chunk; rows of 40 have no vector part on AVX-512 (all tail).
    /// From 2048 columns with AVX-512 BW, 2..8 tokens run on the pair tiles (2 rows × up to 6 tokens, weights widened in
    /// registers): 2200 and 4200 columns (jobs of 16 rows and a last one of 5, an odd pair), 16384 columns (blocks of 8
    /// rows, two a job), and 2048 columns exactly (the column boundary, 203 rows: jobs of 16, a last one of 11) through 8
    /// and 9 tokens (the token boundary, back to the row tiles), against 2040 columns (just under it: one-row kernel and
    /// row tiles). With AVX-512 BW the row tiles of 8..32 tokens run over rows widened the unpacking way: 2048 columns
    /// through 34 tokens crosses that boundary (32 unpacked, 33 and 34 widened in element order). Rows longer than one chunk
    /// of columns are widened there a chain of a chunk at a time (2200, 4200 and 16384 columns at 9-19 tokens); 2048 columns
    /// × 601 rows × 20 tokens (jobs of two blocks, the last ragged: whole rows widened) and 4200 columns × 520 rows × 12
    /// tokens (three chunks, jobs of two blocks, the last a half block: chain by chain), both with inf/NaN rows.
    /// </summary>
    [Theory]
    [InlineData(96, 37, 19, false)]
    [InlineData(200, 37, 19, false)]
    [InlineData(576, 37, 19, false)]
    [InlineData(200, 37, 19, true)]
    [InlineData(576, 601, 70, false)]
    [InlineData(200, 601, 70, true)]
    [InlineData(4200, 37, 19, false)]
    [InlineData(2200, 37, 19, true)]
    [InlineData(40, 37, 19, false)]
    [InlineData(2048, 203, 10, true)]
    [InlineData(16384, 37, 9, true)]
    [InlineData(2040, 37, 10, false)]
    [InlineData(2048, 37, 34, true)]
    [InlineData(2048, 601, 20, true)]
    [InlineData(4200, 520, 12, true)]
    public void F16_tiles_give_the_single_pair_dots(int cols, int rows, int maxTokens, bool specials) =>
        CheckEveryBatchSize(GgmlType.F16, cols, rows, maxTokens, MatMulKernelPath.Auto,
            (w, a) => RowKernels.Dot(GgmlType.F16, w, a, cols), specials ? SprinkleSpecials : null);

    /// <summary>
    /// The portable F16 tiles (4 rows in Vector128 lanes × up to 4 tokens, for machines where ggml has no vector F16 dot)
    /// give the in-order scalar dot bit for bit on any machine with Vector128: every batch size up to 11 (full and ragged
    /// token groups), jobs of 32 rows (two blocks of 16) and a ragged last one whose last tile has one to three rows,
    /// inf/NaN in some rows and tokens. MatMul runs these tiles only where F16 sums in order (the
    /// <c>DOTNET_EnableAVX2=0</c> run of <see cref="InstructionSetRunsTests"/> checks that end to end).
    /// </summary>
    [SkippableTheory]
    [InlineData(96, 37, false)]
    [InlineData(200, 70, false)]
    [InlineData(200, 38, true)]
    [InlineData(576, 39, true)]
    public void F16_portable_tiles_give_the_in_order_scalar_dots(int cols, int rows, bool specials)
    {
        Skip.IfNot(System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated, "Vector128 is not hardware-accelerated here: MatMul keeps the scalar dot");
        const int maxTokens = 11;
        var rng = new Random(cols + rows);
        int rowBytes = cols * sizeof(ushort);
        byte* data = (byte*)NativeMemory.AlignedAlloc((nuint)(rows * rowBytes), 64);
        byte* buffer = (byte*)NativeMemory.AlignedAlloc((nuint)F16ActivationPanel.BytesNeeded(maxTokens, cols), F16ActivationPanel.Alignment);
        float* scratch = (float*)NativeMemory.AlignedAlloc((nuint)F16WidenedRows.ScratchFloats(cols) * sizeof(float), 64);
        try
        {
            for (int r = 0; r < rows; r++)
            {
                float[] row = MultiRowDotTests.RandomRow(rng, cols);
                if (specials) SprinkleSpecials(row, r);
                MultiRowDotTests.QuantizedRow(GgmlType.F16, row, cols).CopyTo(new Span<byte>(data + r * rowBytes, rowBytes));
            }
            var w = new WeightMatrix(new GgufTensorInfo("w", [cols, rows], GgmlType.F16, 0, rows * rowBytes) { Data = data });
            var x = new float[maxTokens][];
            for (int t = 0; t < maxTokens; t++)
            {
                x[t] = MultiRowDotTests.RandomRow(rng, cols);
                if (specials) SprinkleSpecials(x[t], rows + t);
            }
            for (int n = 1; n <= maxTokens; n++)
            {
                var panel = new F16ActivationPanel(buffer, n, cols);
                for (int t = 0; t < n; t++) panel.Write(t, x[t]);
                float[] y = new float[n * rows];
                fixed (float* yp = y)
                    for (int b = 0; b < rows; b += 32)
                        F16TilePortable.Rows(w, panel, yp, b, Math.Min(rows, b + 32), scratch);
                for (int t = 0; t < n; t++)
                {
                    var a = MemoryMarshal.Cast<byte, ushort>(MultiRowDotTests.QuantizedRow(GgmlType.F16, x[t], cols));
                    for (int r = 0; r < rows; r++)
                    {
                        float want = RowF16.DotScalar(MemoryMarshal.Cast<byte, ushort>(w.Row(r)), a, 0, 0f), got = y[t * rows + r];
                        Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(got),
                            $"{rows} rows, batch {n}, token {t}, row {r}: tiles {got:R}, scalar dot {want:R}");
                    }
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(data);
            NativeMemory.AlignedFree(buffer);
            NativeMemory.AlignedFree(scratch);
        }
    }

    /// <summary>Puts inf/NaN into every fifth row: at element 3 (vector part) or at the last element (tail).</summary>
    private static void SprinkleSpecials(float[] row, int index)
    {
        if (index % 5 != 0) return;
        float special = (index / 5 % 3) switch { 0 => float.PositiveInfinity, 1 => float.NaN, _ => float.NegativeInfinity };
        row[index % 2 == 0 ? 3 : row.Length - 1] = special;
    }

    /// <summary>
    /// The F16 panel's inf/NaN flag and widened values wherever a special value falls: in the first or last lane of a
    /// vector, in the scalar part of the scan, past a 256-element chunk, in the dot's tail (no flag), or nowhere.
    /// </summary>
    [Theory]
    [InlineData(64)]
    [InlineData(100)]
    [InlineData(576)]
    public void F16_panel_flags_an_inf_or_nan_wherever_it_falls(int cols)
    {
        int vectorEnd = F16ActivationPanel.VectorEnd(cols);
        byte* buffer = (byte*)NativeMemory.AlignedAlloc((nuint)F16ActivationPanel.BytesNeeded(1, cols), F16ActivationPanel.Alignment);
        try
        {
            var panel = new F16ActivationPanel(buffer, 1, cols);
            var rng = new Random(cols);
            foreach (float special in new[] { float.PositiveInfinity, float.NaN, 70000f /* rounds to F16 inf */ })
                for (int at = -1; at < cols; at++)
                {
                    float[] row = MultiRowDotTests.RandomRow(rng, cols);
                    if (at >= 0) row[at] = special;
                    panel.Write(0, row);
                    Assert.Equal(at >= 0 && at < vectorEnd, panel.HasSpecial(0));
                    for (int i = 0; i < cols; i++)
                    {
                        float want = FloatConversions.HalfToSingle(BitConverter.HalfToUInt16Bits((Half)row[i]));
                        Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(panel.Row(0)[i]),
                            $"{cols} columns, {special} at {at}: element {i} widened to {panel.Row(0)[i]:R}, not {want:R}");
                    }
                }
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    /// <summary>
    /// A matmul told its input is the previous call's reuses that call's activation panel, and gives what a fresh call
    /// gives; where the input is not in fact the same rows (another buffer, batch or width) the panel is filled again.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.F32)]
    public void The_same_input_reuses_its_panel_and_other_inputs_do_not(GgmlType type)
    {
        const int cols = 256, rows = 48, tokens = 20;
        var rng = new Random(7);
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        byte* data = (byte*)NativeMemory.AlignedAlloc((nuint)(2 * rows * rowBytes), 64);
        try
        {
            for (int r = 0; r < 2 * rows; r++)
                MultiRowDotTests.QuantizedRow(type, MultiRowDotTests.RandomRow(rng, cols), cols).CopyTo(new Span<byte>(data + r * rowBytes, (int)rowBytes));
            var a = new WeightMatrix(new GgufTensorInfo("a", [cols, rows], type, 0, rows * rowBytes) { Data = data });
            var b = new WeightMatrix(new GgufTensorInfo("b", [cols, rows], type, 0, rows * rowBytes) { Data = data + rows * rowBytes });
            float[] x1 = new float[tokens * cols], x2 = new float[tokens * cols];
            for (int i = 0; i < x1.Length; i++) { x1[i] = (float)(rng.NextDouble() * 2 - 1); x2[i] = (float)(rng.NextDouble() * 2 - 1); }
            using var team = new ThreadTeam(2);
            var fresh = new MatMul(team, tokens, cols);
            var reusing = new MatMul(team, tokens, cols);
            float[] Fresh(in WeightMatrix w, float[] x, int n)
            {
                var y = new float[n * rows];
                fresh.Run(w, x.AsSpan(0, n * cols), y, n);
                return y;
            }
            fixed (float* p1 = x1, p2 = x2) // the same addresses from call to call
                foreach (int n in new[] { tokens, 1, 9 })
                {
                    var y = new float[n * rows];
                    reusing.Run(a, x1.AsSpan(0, n * cols), y, n);
                    Assert.Equal(Fresh(a, x1, n), y);
                    reusing.Run(b, x1.AsSpan(0, n * cols), y, n, sameInput: true);
                    Assert.Equal(Fresh(b, x1, n), y);
                    reusing.Run(b, x2.AsSpan(0, n * cols), y, n, sameInput: true); // another buffer: filled again
                    Assert.Equal(Fresh(b, x2, n), y);
                    var shorter = new float[(n + 1) / 2 * rows];
                    reusing.Run(a, x2.AsSpan(0, (n + 1) / 2 * cols), shorter, (n + 1) / 2, sameInput: true); // another batch
                    Assert.Equal(Fresh(a, x2, (n + 1) / 2), shorter);
                }
        }
        finally
        {
            NativeMemory.AlignedFree(data);
        }
    }

    [Fact]
    public void A_path_the_machine_lacks_is_refused_not_emulated()
    {
        using var team = new ThreadTeam(1);
        foreach (var path in AllPaths.Where(p => !LegacyTiledMatMul.IsSupported(p)))
            Assert.Throws<PlatformNotSupportedException>(() => new MatMul(team, 4, 64, kernelPath: path));
        Assert.NotEqual(MatMulKernelPath.Auto, new MatMul(team, 4, 64).KernelPath);
    }

    /// <param name="alter">Changes a weight row (index r) or an activation row (index rows + t) before quantisation.</param>
    private static void CheckEveryBatchSize(GgmlType type, int cols, int rows, int maxTokens, MatMulKernelPath path,
        Func<byte[], byte[], float> reference, Action<float[], int>? alter = null)
    {
        var rng = new Random(cols + (int)type + rows);
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        byte* data = (byte*)NativeMemory.AlignedAlloc((nuint)(rows * rowBytes), 64);
        try
        {
            for (int r = 0; r < rows; r++)
            {
                float[] row = MultiRowDotTests.RandomRow(rng, cols);
                alter?.Invoke(row, r);
                MultiRowDotTests.QuantizedRow(type, row, cols).CopyTo(new Span<byte>(data + r * rowBytes, (int)rowBytes));
            }
            var info = new GgufTensorInfo("w", [cols, rows], type, 0, rows * rowBytes) { Data = data };
            var w = new WeightMatrix(info);

            float[] x = new float[maxTokens * cols];
            for (int t = 0; t < maxTokens; t++)
            {
                float[] row = MultiRowDotTests.RandomRow(rng, cols);
                alter?.Invoke(row, rows + t);
                row.CopyTo(x, t * cols);
            }

            GgmlType dotType = RowKernels.DotType(type);
            var want = new float[maxTokens, rows];
            for (int t = 0; t < maxTokens; t++)
            {
                byte[] a = MultiRowDotTests.QuantizedRow(dotType, x.AsSpan(t * cols, cols).ToArray(), cols);
                for (int r = 0; r < rows; r++)
                    want[t, r] = reference(w.Row(r).ToArray(), a);
            }

            using var team = new ThreadTeam(2);
            var matMul = new MatMul(team, maxTokens, cols, kernelPath: path);
            for (int n = 1; n <= maxTokens; n++)
            {
                float[] y = new float[n * rows];
                matMul.Run(w, x.AsSpan(0, n * cols), y, n);
                for (int t = 0; t < n; t++)
                    for (int r = 0; r < rows; r++)
                    {
                        float got = y[t * rows + r];
                        Assert.True(BitConverter.SingleToInt32Bits(want[t, r]) == BitConverter.SingleToInt32Bits(got),
                            $"{type} on {matMul.KernelPath}, {rows} rows, batch {n}, token {t}, row {r}: matmul {got:R}, dot {want[t, r]:R}");
                    }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(data);
        }
    }

    /// <summary>The portable (ggml generic) dot, which the portable kernels must match on any machine.</summary>
    private static float ScalarDot(GgmlType type, byte[] w, byte[] a, int cols) => type switch
    {
        GgmlType.Q8_0 => RowQ8_0.DotScalar(w, a, cols / 32),
        GgmlType.Q4_0 => RowQ4_0.DotScalar(w, a, cols / 32),
        GgmlType.Q5_0 => RowQ5_0.DotScalar(w, a, cols / 32),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };
}
