namespace Tandem.Engine.Model;

/// <summary>A sequence would grow past the positions its KV cache holds.</summary>
public sealed class ContextOverflowException(int needed, int capacity)
    : Exception($"the sequence needs {needed} positions but the context holds {capacity}")
{
    public int Needed { get; } = needed;
    public int Capacity { get; } = capacity;
}
