namespace Tandem.Engine.KvCache;

/// <summary>
/// A cached prefix found in a pool: <see cref="Tokens"/> tokens in <see cref="Blocks"/> full blocks, of which
/// <see cref="UnreferencedBlocks"/> are cached blocks no sequence holds (taking them lowers the pool's free count).
/// </summary>
public readonly record struct KvPrefixMatch(int Tokens, int Blocks, int UnreferencedBlocks);
