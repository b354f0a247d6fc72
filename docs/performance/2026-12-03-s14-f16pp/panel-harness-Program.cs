// F16ActivationPanel.Write alone: ns per element, best of N (thread CPU time), 512 tokens x cols
using System.Runtime.InteropServices;
using Tandem.Engine.Quantization;
unsafe static class P
{
    [StructLayout(LayoutKind.Sequential)] struct Ts { public long s, ns; }
    [DllImport("libc")] static extern int clock_gettime(int id, Ts* ts);
    static double Cpu() { Ts t; clock_gettime(3, &t); return t.s + t.ns * 1e-9; }
    static void Main(string[] a)
    {
        int cols = int.Parse(a[0]), n = 512;
        var rng = new Random(1);
        float[] x = new float[n * cols];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        byte* buf = (byte*)NativeMemory.AlignedAlloc((nuint)F16ActivationPanel.BytesNeeded(n, cols), 64);
        var panel = new F16ActivationPanel(buf, n, cols);
        void Run() { for (int t = 0; t < n; t++) panel.Write(t, x.AsSpan(t * cols, cols)); }
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < 300) Run();
        double best = double.MaxValue;
        for (int i = 0; i < 30; i++) { double t0 = Cpu(); Run(); best = Math.Min(best, Cpu() - t0); }
        Console.WriteLine($"cols {cols}: {best * 1e9 / ((double)n * cols):F3} ns per element, {best * 1e3:F2} ms per 512 tokens");
    }
}
