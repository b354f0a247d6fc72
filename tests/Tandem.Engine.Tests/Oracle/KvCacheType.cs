namespace Tandem.Engine.Tests.Oracle;

/// <summary>Element type of llama.cpp's KV cache. F32 keeps comparisons free of F16 rounding; F16 is llama.cpp's default.</summary>
public enum KvCacheType
{
    F32,
    F16,
}
