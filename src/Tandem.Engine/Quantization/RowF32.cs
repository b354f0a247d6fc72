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

    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        TensorPrimitives.Dot(MemoryMarshal.Cast<byte, float>(weights)[..n], MemoryMarshal.Cast<byte, float>(activations)[..n]);
}
