using Tandem.Engine.Gguf;

namespace Tandem.Engine.Tests.Quantization;

/// <summary>
/// llama.cpp's own K-quant kernels, called directly from the ggml libraries that LLamaSharp.Backend.Cpu
/// ships (copied beside the tests under runtimes/linux-x64/native/&lt;variant&gt;): the reference quantisers
/// and dequantisers of ggml-base, and the CPU backend's quantize_row_q8_K and vec_dot kernels of ggml-cpu.
/// </summary>
internal sealed unsafe class KQuantGgmlOracle
{
    private readonly delegate* unmanaged<float*, byte*, long, void> _quantizeQ4K, _quantizeQ5K, _quantizeQ6K, _quantizeQ8KRef, _quantizeQ8K;
    private readonly delegate* unmanaged<byte*, float*, long, void> _dequantizeQ4K, _dequantizeQ5K, _dequantizeQ6K;
    private readonly delegate* unmanaged<int, float*, nuint, byte*, nuint, byte*, nuint, int, void> _dotQ4K, _dotQ5K, _dotQ6K;

    private KQuantGgmlOracle(GgmlNativeBuild build)
    {
        _quantizeQ4K = (delegate* unmanaged<float*, byte*, long, void>)build.BaseExport("quantize_row_q4_K_ref");
        _quantizeQ5K = (delegate* unmanaged<float*, byte*, long, void>)build.BaseExport("quantize_row_q5_K_ref");
        _quantizeQ6K = (delegate* unmanaged<float*, byte*, long, void>)build.BaseExport("quantize_row_q6_K_ref");
        _quantizeQ8KRef = (delegate* unmanaged<float*, byte*, long, void>)build.BaseExport("quantize_row_q8_K_ref");
        _dequantizeQ4K = (delegate* unmanaged<byte*, float*, long, void>)build.BaseExport("dequantize_row_q4_K");
        _dequantizeQ5K = (delegate* unmanaged<byte*, float*, long, void>)build.BaseExport("dequantize_row_q5_K");
        _dequantizeQ6K = (delegate* unmanaged<byte*, float*, long, void>)build.BaseExport("dequantize_row_q6_K");
        _quantizeQ8K = (delegate* unmanaged<float*, byte*, long, void>)build.CpuExport("quantize_row_q8_K");
        _dotQ4K = (delegate* unmanaged<int, float*, nuint, byte*, nuint, byte*, nuint, int, void>)build.CpuExport("ggml_vec_dot_q4_K_q8_K");
        _dotQ5K = (delegate* unmanaged<int, float*, nuint, byte*, nuint, byte*, nuint, int, void>)build.CpuExport("ggml_vec_dot_q5_K_q8_K");
        _dotQ6K = (delegate* unmanaged<int, float*, nuint, byte*, nuint, byte*, nuint, int, void>)build.CpuExport("ggml_vec_dot_q6_K_q8_K");
    }

    /// <summary>
    /// The oracle for one build variant ("avx2", "avx512"); where this machine cannot run it, the calling
    /// (skippable) test is reported as skipped with the reason.
    /// </summary>
    public static KQuantGgmlOracle Require(string variant) => new(GgmlNativeBuild.Require(variant));

    public byte[] QuantizeRef(GgmlType type, float[] x)
    {
        var dst = new byte[GgmlTypeInfo.RowBytes(type, x.Length)];
        var fn = type switch
        {
            GgmlType.Q4_K => _quantizeQ4K,
            GgmlType.Q5_K => _quantizeQ5K,
            GgmlType.Q6_K => _quantizeQ6K,
            GgmlType.Q8_K => _quantizeQ8KRef,
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
        fixed (float* px = x)
        fixed (byte* py = dst)
            fn(px, py, x.Length);
        return dst;
    }

    /// <summary>The CPU backend's activation quantiser (what llama.cpp runs before a K-quant matmul).</summary>
    public byte[] QuantizeQ8K(float[] x)
    {
        var dst = new byte[GgmlTypeInfo.RowBytes(GgmlType.Q8_K, x.Length)];
        fixed (float* px = x)
        fixed (byte* py = dst)
            _quantizeQ8K(px, py, x.Length);
        return dst;
    }

    public float[] Dequantize(GgmlType type, byte[] src, int n)
    {
        var dst = new float[n];
        var fn = type switch
        {
            GgmlType.Q4_K => _dequantizeQ4K,
            GgmlType.Q5_K => _dequantizeQ5K,
            GgmlType.Q6_K => _dequantizeQ6K,
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
        fixed (byte* px = src)
        fixed (float* py = dst)
            fn(px, py, n);
        return dst;
    }

    public float Dot(GgmlType type, byte[] weights, byte[] activations, int n)
    {
        var fn = type switch
        {
            GgmlType.Q4_K => _dotQ4K,
            GgmlType.Q5_K => _dotQ5K,
            GgmlType.Q6_K => _dotQ6K,
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
        float s;
        fixed (byte* px = weights)
        fixed (byte* py = activations)
            fn(n, &s, 0, px, 0, py, 0, 1);
        return s;
    }
}
