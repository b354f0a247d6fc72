using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Tandem.Engine.Gguf;

namespace Tandem.Engine.Quantization;

/// <summary>Plain F32 rows: activations stay F32.</summary>
public readonly struct RowF32 : IRowType
{
    public static GgmlType Type => GgmlType.F32;
    public static GgmlType DotType => GgmlType.F32;

    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) =>
        MemoryMarshal.Cast<byte, float>(src)[..dst.Length].CopyTo(dst);

    public static void Quantize(ReadOnlySpan<float> src, Span<byte> dst) =>
        MemoryMarshal.AsBytes(src).CopyTo(dst);

    /// <summary>As <c>ggml_vec_dot_f32</c> (bit for bit where <see cref="Kernels.GgmlSimd.Width"/> is known).</summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        var w = MemoryMarshal.Cast<byte, float>(weights)[..n];
        var a = MemoryMarshal.Cast<byte, float>(activations)[..n];
        return Kernels.GgmlSimd.Width > 0 ? GgmlFloatDot.VecDotF32(w, a) : TensorPrimitives.Dot(w, a);
    }
}
