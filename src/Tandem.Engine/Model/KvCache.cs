namespace Tandem.Engine.Model;

/// <summary>
/// A single sequence's key/value cache: for each layer, <see cref="Capacity"/> positions of kvDim floats
/// for K and for V, position-major. Keys are stored after RoPE.
/// </summary>
public sealed class KvCache
{
    public int Capacity { get; }
    public int KvDim { get; }
    /// <summary>Positions filled so far; the next token goes at this position.</summary>
    public int Length { get; internal set; }
    internal float[][] Keys { get; }
    internal float[][] Values { get; }

    public KvCache(ModelConfig config, int capacity)
    {
        if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "KV cache capacity must be positive");
        Capacity = capacity;
        KvDim = config.KvDim;
        Keys = new float[config.BlockCount][];
        Values = new float[config.BlockCount][];
        for (int l = 0; l < config.BlockCount; l++)
        {
            Keys[l] = new float[(long)capacity * KvDim];
            Values[l] = new float[(long)capacity * KvDim];
        }
    }

    /// <summary>Forgets everything after <paramref name="length"/> positions (e.g. to start over).</summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Length);
        Length = length;
    }

    public long Bytes => 2L * Keys.Length * Capacity * KvDim * sizeof(float);
}
