namespace Tandem.Engine.KvCache;

/// <summary>Element type of cached keys and values. F16 halves memory and transfer size.</summary>
public enum KvElementType
{
    F32 = 0,
    F16 = 1,
}
