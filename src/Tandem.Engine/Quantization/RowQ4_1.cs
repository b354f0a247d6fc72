using Tandem.Engine.Gguf;

namespace Tandem.Engine.Quantization;

// STUB: to be implemented.
public readonly struct RowQ4_1 : IRowType
{
    public static GgmlType Type => GgmlType.Q4_1;
    public static GgmlType DotType => GgmlType.Q8_1;
    public static void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) => throw new NotImplementedException();
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> dst) => throw new NotImplementedException();
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) => throw new NotImplementedException();
}
