namespace Tandem.Engine.Tests.Quantization;

/// <summary>
/// Direct calls into the AVX2 build of ggml that LLamaSharp.Backend.Cpu ships (libggml-base / libggml-cpu),
/// so that the legacy row kernels can be compared bit for bit with the functions llama.cpp itself runs.
/// Only on linux-x64 machines with AVX2: elsewhere <see cref="Require"/> skips the calling test.
/// </summary>
internal sealed unsafe class GgmlCpuLibrary
{
    private readonly GgmlNativeBuild _build;

    private GgmlCpuLibrary(GgmlNativeBuild build) => _build = build;

    /// <summary>The library, or the calling (skippable) test is reported as skipped with the reason it cannot run here.</summary>
    public static GgmlCpuLibrary Require() => new(GgmlNativeBuild.Require("avx2"));

    private nint Base(string name) => _build.BaseExport(name);
    private nint Cpu(string name) => _build.CpuExport(name);

    /// <summary><c>quantize_row_X_ref</c> from ggml-base (weights) or <c>quantize_row_q8_0/q8_1</c> from ggml-cpu (activations).</summary>
    public byte[] Quantize(string function, bool cpu, float[] x, int rowBytes)
    {
        var y = new byte[rowBytes];
        var f = (delegate* unmanaged<float*, byte*, long, void>)(cpu ? Cpu(function) : Base(function));
        fixed (float* px = x)
        fixed (byte* py = y)
            f(px, py, x.Length);
        return y;
    }

    /// <summary><c>dequantize_row_X</c> from ggml-base.</summary>
    public float[] Dequantize(string function, byte[] x, int n)
    {
        var y = new float[n];
        var f = (delegate* unmanaged<byte*, float*, long, void>)Base(function);
        fixed (byte* px = x)
        fixed (float* py = y)
            f(px, py, n);
        return y;
    }

    /// <summary><c>ggml_vec_dot_X</c> from ggml-cpu, one row (nrc = 1).</summary>
    public float Dot(string function, byte[] x, byte[] y, int n)
    {
        var f = (delegate* unmanaged<int, float*, nuint, byte*, nuint, byte*, nuint, int, void>)Cpu(function);
        float s;
        fixed (byte* px = x)
        fixed (byte* py = y)
            f(n, &s, 0, px, 0, py, 0, 1);
        return s;
    }

    /// <summary><c>ggml_cpu_fp32_to_fp16</c> / <c>ggml_cpu_fp32_to_bf16</c>: the activation conversions for F16/BF16 weights.</summary>
    public byte[] ConvertRow(string function, float[] x)
    {
        var y = new byte[x.Length * 2];
        var f = (delegate* unmanaged<float*, byte*, long, void>)Cpu(function);
        fixed (float* px = x)
        fixed (byte* py = y)
            f(px, py, x.Length);
        return y;
    }
}
