using Tandem.Engine.Gguf;

namespace Tandem.Engine.Quantization;

/// <summary>Type-dispatched entry points to the row operations of every supported type.</summary>
public static class RowKernels
{
    /// <summary>The activation type that rows of <paramref name="type"/> are dotted with.</summary>
    public static GgmlType DotType(GgmlType type) => type switch
    {
        GgmlType.F32 => RowF32.DotType,
        GgmlType.F16 => RowF16.DotType,
        GgmlType.BF16 => RowBF16.DotType,
        GgmlType.Q4_0 => RowQ4_0.DotType,
        GgmlType.Q4_1 => RowQ4_1.DotType,
        GgmlType.Q5_0 => RowQ5_0.DotType,
        GgmlType.Q5_1 => RowQ5_1.DotType,
        GgmlType.Q8_0 => RowQ8_0.DotType,
        GgmlType.Q4_K => RowQ4_K.DotType,
        GgmlType.Q5_K => RowQ5_K.DotType,
        GgmlType.Q6_K => RowQ6_K.DotType,
        _ => throw Unsupported(type),
    };

    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (type)
        {
            case GgmlType.F32: RowF32.Dequantize(src, dst); break;
            case GgmlType.F16: RowF16.Dequantize(src, dst); break;
            case GgmlType.BF16: RowBF16.Dequantize(src, dst); break;
            case GgmlType.Q4_0: RowQ4_0.Dequantize(src, dst); break;
            case GgmlType.Q4_1: RowQ4_1.Dequantize(src, dst); break;
            case GgmlType.Q5_0: RowQ5_0.Dequantize(src, dst); break;
            case GgmlType.Q5_1: RowQ5_1.Dequantize(src, dst); break;
            case GgmlType.Q8_0: RowQ8_0.Dequantize(src, dst); break;
            case GgmlType.Q4_K: RowQ4_K.Dequantize(src, dst); break;
            case GgmlType.Q5_K: RowQ5_K.Dequantize(src, dst); break;
            case GgmlType.Q6_K: RowQ6_K.Dequantize(src, dst); break;
            default: throw Unsupported(type);
        }
    }

    /// <summary>Encodes a row as <paramref name="type"/>; also accepts the activation-only types Q8_1 and Q8_K.</summary>
    public static void Quantize(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        switch (type)
        {
            case GgmlType.F32: RowF32.Quantize(src, dst); break;
            case GgmlType.F16: RowF16.Quantize(src, dst); break;
            case GgmlType.BF16: RowBF16.Quantize(src, dst); break;
            case GgmlType.Q4_0: RowQ4_0.Quantize(src, dst); break;
            case GgmlType.Q4_1: RowQ4_1.Quantize(src, dst); break;
            case GgmlType.Q5_0: RowQ5_0.Quantize(src, dst); break;
            case GgmlType.Q5_1: RowQ5_1.Quantize(src, dst); break;
            case GgmlType.Q8_0: RowQ8_0.Quantize(src, dst); break;
            case GgmlType.Q8_1: ActivationQ8_1.Quantize(src, dst); break;
            case GgmlType.Q4_K: RowQ4_K.Quantize(src, dst); break;
            case GgmlType.Q5_K: RowQ5_K.Quantize(src, dst); break;
            case GgmlType.Q6_K: RowQ6_K.Quantize(src, dst); break;
            case GgmlType.Q8_K: ActivationQ8_K.Quantize(src, dst); break;
            default: throw Unsupported(type);
        }
    }

    public static float Dot(GgmlType type, ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) => type switch
    {
        GgmlType.F32 => RowF32.Dot(weights, activations, n),
        GgmlType.F16 => RowF16.Dot(weights, activations, n),
        GgmlType.BF16 => RowBF16.Dot(weights, activations, n),
        GgmlType.Q4_0 => RowQ4_0.Dot(weights, activations, n),
        GgmlType.Q4_1 => RowQ4_1.Dot(weights, activations, n),
        GgmlType.Q5_0 => RowQ5_0.Dot(weights, activations, n),
        GgmlType.Q5_1 => RowQ5_1.Dot(weights, activations, n),
        GgmlType.Q8_0 => RowQ8_0.Dot(weights, activations, n),
        GgmlType.Q4_K => RowQ4_K.Dot(weights, activations, n),
        GgmlType.Q5_K => RowQ5_K.Dot(weights, activations, n),
        GgmlType.Q6_K => RowQ6_K.Dot(weights, activations, n),
        _ => throw Unsupported(type),
    };

    private static NotSupportedException Unsupported(GgmlType type) =>
        new($"tensor type {GgmlTypeInfo.Name(type)} is not supported");
}
