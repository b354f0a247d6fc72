namespace Tandem.Engine.Quantization;

// STUB: to be implemented. Activation-only type (ggml never stores weights in it).
public static class ActivationQ8_K
{
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> dst) => throw new NotImplementedException();
}
