using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Tandem.Engine.Gguf;
using Tandem.Engine.Kernels;
using Tandem.Engine.Quantization;

namespace Tandem.Bench;

/// <summary>
/// Matmul kernel throughput on one thread: for each weight type and each kernel path this machine has, the time of
/// y = W·x for batches of tokens, in nanoseconds per 32 weight × activation products (one block pair), beside
/// the four-token dot that MatMul ran before the tiled kernels (one weight row against four tokens, row after
/// row). Times are the thread's CPU time where the OS gives it (Linux), else wall time, best of several runs
/// after a warm-up past JIT tiering, so that other processes on a shared machine disturb them less than they
/// disturb the wall-clock engine figures.
/// </summary>
public static unsafe class KernelBench
{
    private static readonly GgmlType[] Types = [GgmlType.F16, GgmlType.Q8_0, GgmlType.Q5_0, GgmlType.Q4_0, GgmlType.Q4_K];

    private static readonly MatMulKernelPath[] Paths =
        [MatMulKernelPath.Avx512, MatMulKernelPath.Avx2Vnni, MatMulKernelPath.Avx2, MatMulKernelPath.Portable];

    /// <summary>One table row of the bench: a weight type, a kernel and its time per batch size.</summary>
    public sealed record Result(string Type, string Kernel, int[] Batches, double[] NsPer32Products);

    /// <summary>What <c>--json</c> writes: the machine beside the figures, and every row of the table.</summary>
    public sealed record Report(string Utc, string CpuModel, string CpuFlags, string DotnetIsa, string LoadAverageStart,
        string LoadAverageEnd, int Rows, int Cols, string Clock, List<Result> Results);

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    /// <summary>The weight types <c>--types</c> names (null: all); one it has no kernel for is an error naming those it has.</summary>
    /// <param name="typeNames">Comma-separated weight types to time (as GGUF names them, any case); null for all.</param>
    public static GgmlType[] ParseTypes(string? typeNames) =>
        typeNames == null ? Types : typeNames.Split(',').Select(name =>
            GgmlTypeInfo.TryParse(name.Trim(), out var t) && Types.Contains(t) ? t
                : throw new ArgumentException($"--types: {name} is not one of {string.Join(", ", Types.Select(GgmlTypeInfo.Name))}")).ToArray();

    /// <param name="jsonPath">Where to write the <see cref="Report"/>; null for the table alone.</param>
    /// <param name="types">The weight types to time (<see cref="ParseTypes"/>).</param>
    public static void Run(int rows, int cols, int[] batches, TextWriter o, string? jsonPath, GgmlType[] types)
    {
        string loadStart = MachineInfo.LoadAverage, utc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        string clock = ThreadCpuTime.IsAvailable ? "thread CPU time" : "wall time";
        var results = new List<Result>();
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{rows} x {cols} weights, 1 thread, ns per 32 products (best of several runs; {clock}); {MachineInfo.CpuModel}, .NET {MachineInfo.DotnetIsa}, load average {loadStart}"));
        o.WriteLine("| type | kernel | " + string.Join(" | ", batches.Select(b => $"n={b}")) + " |");
        o.WriteLine("|---|---|" + string.Concat(batches.Select(_ => "---:|")));
        int maxBatch = batches.Max();
        var rng = new Random(1);
        float[] x = RandomValues(rng, maxBatch * cols);
        float[] y = new float[maxBatch * rows];
        using var team = new ThreadTeam(1);
        foreach (var type in types)
        {
            long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
            byte* data = (byte*)NativeMemory.AlignedAlloc((nuint)(rows * rowBytes), 64);
            try
            {
                var q = new byte[rowBytes];
                for (int r = 0; r < rows; r++)
                {
                    RowKernels.Quantize(type, RandomValues(rng, cols), q);
                    q.CopyTo(new Span<byte>(data + r * rowBytes, (int)rowBytes));
                }
                var w = new WeightMatrix(new GgufTensorInfo("w", [cols, rows], type, 0, rows * rowBytes) { Data = data });
                var fourToken = new FourTokenDot(w, maxBatch);
                Row(o, results, type, "four-token dot (before)", batches, w, n => fourToken.Run(x, y, n));
                foreach (var path in Paths.Where(LegacyTiledMatMul.IsSupported))
                {
                    // F16 picks its kernel by ggml's SIMD width, not by path; Q4_K's batches are tiled on AVX-512 only
                    // (on its other paths they are the four-token dot above), its one token on AVX-512 and AVX2.
                    if (type == GgmlType.F16 && path != LegacyTiledMatMul.Resolve(MatMulKernelPath.Auto)) continue;
                    if (type == GgmlType.Q4_K && path == MatMulKernelPath.Portable) continue;
                    var matMul = new MatMul(team, maxBatch, cols, kernelPath: path);
                    string label = type == GgmlType.F16 ? $"tiled, ggml width {GgmlSimd.Width}" : $"tiled, {path}";
                    Row(o, results, type, label, batches, w, n => matMul.Run(w, x.AsSpan(0, n * cols), y, n));
                }
            }
            finally
            {
                NativeMemory.AlignedFree(data);
            }
        }
        o.WriteLine($"load average at the end {MachineInfo.LoadAverage}");
        if (jsonPath != null)
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(new Report(utc, MachineInfo.CpuModel, MachineInfo.CpuFlags,
                MachineInfo.DotnetIsa, loadStart, MachineInfo.LoadAverage, rows, cols, clock, results), Json));
    }

    private static void Row(TextWriter o, List<Result> results, GgmlType type, string kernel, int[] batches, in WeightMatrix w, Action<int> run)
    {
        double blockPairs = (double)w.Rows * w.Cols / 32;
        double[] ns = batches.Select(n => Best(() => run(n), n) * 1e9 / (n * blockPairs)).ToArray();
        results.Add(new Result(GgmlTypeInfo.Name(type), kernel, batches, ns));
        o.WriteLine($"| {GgmlTypeInfo.Name(type)} | {kernel} | {string.Join(" | ", ns.Select(v => v.ToString("F3", CultureInfo.InvariantCulture)))} |");
    }

    internal static double Best(Action run, int n)
    {
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 300) run();
        double best = double.MaxValue;
        for (int i = Math.Max(15, 400 / n); i > 0; i--)
        {
            double t0 = ThreadCpuTime.Seconds();
            run();
            best = Math.Min(best, ThreadCpuTime.Seconds() - t0);
        }
        return best;
    }

    private static float[] RandomValues(Random rng, int count)
    {
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
        return v;
    }

    /// <summary>What MatMul did before the tiled kernels: activations converted to rows of the dot type, then per weight row four tokens at a time.</summary>
    private sealed class FourTokenDot(WeightMatrix w, int maxBatch)
    {
        private readonly GgmlType _dotType = RowKernels.DotType(w.Type);
        private readonly int _xqRowBytes = (int)GgmlTypeInfo.RowBytes(RowKernels.DotType(w.Type), w.Cols);
        private readonly byte[] _xq = new byte[maxBatch * GgmlTypeInfo.RowBytes(RowKernels.DotType(w.Type), w.Cols)];
        private readonly float[] _four = new float[4];

        public void Run(float[] x, float[] y, int n)
        {
            int cols = w.Cols, xb = _xqRowBytes;
            for (int t = 0; t < n; t++)
                RowKernels.Quantize(_dotType, x.AsSpan(t * cols, cols), _xq.AsSpan(t * xb, xb));
            switch (w.Type)
            {
                case GgmlType.F16: Rows<RowF16>(y, n); break;
                case GgmlType.Q8_0: Rows<RowQ8_0>(y, n); break;
                case GgmlType.Q5_0: Rows<RowQ5_0>(y, n); break;
                case GgmlType.Q4_0: Rows<RowQ4_0>(y, n); break;
                case GgmlType.Q4_K: Rows<RowQ4_K>(y, n); break;
                default: throw new NotSupportedException(GgmlTypeInfo.Name(w.Type));
            }
        }

        private void Rows<T>(float[] y, int n) where T : IMultiRowDot
        {
            int rows = w.Rows, cols = w.Cols, xb = _xqRowBytes;
            var xq = _xq.AsSpan();
            for (int r = 0; r < rows; r++)
            {
                var wr = w.Row(r);
                int t = 0;
                for (; t + 4 <= n; t += 4)
                {
                    T.Dot4(wr, xq.Slice(t * xb, xb), xq.Slice((t + 1) * xb, xb), xq.Slice((t + 2) * xb, xb), xq.Slice((t + 3) * xb, xb), cols, _four);
                    for (int k = 0; k < 4; k++) y[(t + k) * rows + r] = _four[k];
                }
                for (; t < n; t++)
                    y[t * rows + r] = T.Dot(wr, xq.Slice(t * xb, xb), cols);
            }
        }
    }

    /// <summary>
    /// The calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID, read by the step log's <see cref="Tandem.Serving.Instances.ThreadClock"/>,
    /// so the replay's CPU times and the server's come from one clock) on Linux; wall time elsewhere.
    /// </summary>
    internal static class ThreadCpuTime
    {
        public static bool IsAvailable { get; } = Tandem.Serving.Instances.ThreadClock.CpuNanoseconds() >= 0;

        public static double Seconds() => IsAvailable
            ? Tandem.Serving.Instances.ThreadClock.CpuNanoseconds() * 1e-9
            : Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;
    }
}
