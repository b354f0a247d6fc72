// Tiled F16 matmul alone, ns per 32 products (best of N, thread CPU time), without the bench's four-token dot.
// usage: harness R C n1,n2,... [reps]
using System.Runtime.InteropServices;
using Tandem.Engine.Gguf;
using Tandem.Engine.Kernels;
using Tandem.Engine.Quantization;
unsafe static class P
{
    [StructLayout(LayoutKind.Sequential)] struct Ts { public long s, ns; }
    [DllImport("libc")] static extern int clock_gettime(int id, Ts* ts);
    static double Cpu() { Ts t; clock_gettime(3, &t); return t.s + t.ns * 1e-9; }
    static void Main(string[] a)
    {
        int rows = int.Parse(a[0]), cols = int.Parse(a[1]);
        int[] batches = a[2].Split(',').Select(int.Parse).ToArray();
        int maxBatch = batches.Max();
        var rng = new Random(1);
        float[] Rand(int n) { var v = new float[n]; for (int i = 0; i < n; i++) v[i] = (float)(rng.NextDouble() * 2 - 1); return v; }
        float[] x = Rand(maxBatch * cols), y = new float[maxBatch * rows];
        long rowBytes = GgmlTypeInfo.RowBytes(GgmlType.F16, cols);
        byte* data = (byte*)NativeMemory.AlignedAlloc((nuint)(rows * rowBytes), 64);
        var q = new byte[rowBytes];
        for (int r = 0; r < rows; r++) { RowKernels.Quantize(GgmlType.F16, Rand(cols), q); q.CopyTo(new Span<byte>(data + r * rowBytes, (int)rowBytes)); }
        var info = new GgufTensorInfo("w", [cols, rows], GgmlType.F16, 0, rows * rowBytes);
        typeof(GgufTensorInfo).GetProperty("Data")!.SetValue(info, System.Reflection.Pointer.Box(data, typeof(byte*)));
        var w = new WeightMatrix(info);
        using var team = new ThreadTeam(1);
        var mm = new MatMul(team, a.Length > 3 ? int.Parse(a[3]) : maxBatch, a.Length > 4 ? int.Parse(a[4]) : cols);
        var parts = new List<string>();
        {
            var bf = System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance;
            var xq = (System.Reflection.Pointer)typeof(MatMul).GetField("_xqPtr", bf)!.GetValue(mm)!;
            long xqa = (long)System.Reflection.Pointer.Unbox(xq);
            var f16 = typeof(MatMul).GetField("_f16Tiles", bf)!.GetValue(mm)!;
            var wid = (float[])f16.GetType().GetField("_widened", bf)!.GetValue(f16)!;
            long wa;
            fixed (float* p = wid) wa = (long)p;
            long pa = (xqa + 63) & ~63L, sa = (wa + 63) & ~63L;
            parts.Add($"panel%4096={pa % 4096} scratch%4096={sa % 4096}");
        }
        foreach (int n in batches)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            while (sw.ElapsedMilliseconds < 300) mm.Run(w, x.AsSpan(0, n * cols), y, n);
            double best = double.MaxValue;
            for (int i = Math.Max(15, 400 / n); i > 0; i--) { double t0 = Cpu(); mm.Run(w, x.AsSpan(0, n * cols), y, n); best = Math.Min(best, Cpu() - t0); }
            parts.Add($"n={n} {best * 1e9 / (n * (double)rows * cols / 32):F3}");
        }
        Console.WriteLine(string.Join("  ", parts));
    }
}
