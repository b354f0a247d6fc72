using System.Collections.Concurrent;

namespace Tandem.Engine.Structured;

/// <summary>
/// The allowed-token masks of one grammar over one vocabulary, keyed by the whole automaton state: the mask
/// depends on nothing else, so a state met again (every character of a string, every element of an array of
/// objects) costs a lookup instead of a trie walk. Shared by the requests of a grammar across instance threads;
/// cleared when full, so memory stays bounded (<see cref="MaxEntries"/> masks of vocab/8 bytes each).
/// </summary>
internal sealed class TokenMaskCache
{
    public const int MaxEntries = 1024;

    private sealed record Entry(int[] Key, ulong[] Bits);

    private readonly ConcurrentDictionary<ulong, Entry> _entries = new();

    public int Count => _entries.Count;

    /// <summary>The mask of <paramref name="state"/> (whose <see cref="JsonAutomaton.Hash"/> is <paramref name="hash"/>), or null.</summary>
    public ulong[]? Find(JsonAutomaton state, ulong hash) =>
        _entries.TryGetValue(hash, out var e) && state.KeyEquals(e.Key) ? e.Bits : null;

    public void Add(ulong hash, int[] key, ulong[] bits)
    {
        if (_entries.Count >= MaxEntries) _entries.Clear();
        _entries.TryAdd(hash, new Entry(key, bits)); // a colliding state keeps the first entry; the other is recomputed
    }
}
