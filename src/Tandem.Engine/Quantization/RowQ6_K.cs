using Tandem.Engine.Gguf;

namespace Tandem.Engine.Quantization;

// STUB: to be implemented.
public readonly struct RowQ6_K : IRowType
{
    public static GgmlType Type => GgmlType.Q6_K;
    public static GgmlType DotType => GgmlType.Q8_K;
    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) => throw new NotImplementedException();
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> dst) => throw new NotImplementedException();
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) => throw new NotImplementedException();
}
