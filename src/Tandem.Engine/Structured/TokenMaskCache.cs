using System.Collections.Concurrent;

namespace Tandem.Engine.Structured;

/// <summary>
/// The token masks of one grammar over one vocabulary, split as xgrammar splits them: keyed by the automaton's
/// local state alone (its top frame, see <see cref="JsonAutomaton.LoadTopFrame"/>), each entry holds the tokens
/// allowed whatever lies below that frame, and the few places in the vocabulary trie where a token ends the frame
/// and so depends on the frames below (the <see cref="LocalMask.Boundaries"/>, walked again at each step). The
/// stack's depth and contents are not in the key, so free JSON that nests deeper and deeper meets the same few
/// local states again instead of new ones. Shared by the requests of a grammar across instance threads; cleared
/// when full, so memory stays bounded (<see cref="MaxEntries"/> masks of vocab/8 bytes each).
/// </summary>
internal sealed class TokenMaskCache
{
    public const int MaxEntries = 1024;

    /// <summary>
    /// One local state's mask: <see cref="Bits"/> has the tokens allowed without leaving the top frame; each pair
    /// in <see cref="Boundaries"/> is a trie node and one of its edges at which the frame ends (the tokens below that
    /// edge are decided per step); <see cref="AnyToken"/> says whether <see cref="Bits"/> has any token.
    /// </summary>
    public sealed record LocalMask(int[] Key, ulong[] Bits, int[] Boundaries, bool AnyToken);

    private readonly ConcurrentDictionary<ulong, LocalMask> _entries = new();

    public int Count => _entries.Count;

    /// <summary>The mask of the local state <paramref name="key"/> (whose <see cref="Hash"/> is <paramref name="hash"/>), or null.</summary>
    public LocalMask? Find(ReadOnlySpan<int> key, ulong hash) =>
        _entries.TryGetValue(hash, out var e) && key.SequenceEqual(e.Key) ? e : null;

    public void Add(ulong hash, LocalMask mask)
    {
        if (_entries.Count >= MaxEntries) _entries.Clear();
        _entries.TryAdd(hash, mask); // a colliding state keeps the first entry; the other is recomputed
    }

    public static ulong Hash(ReadOnlySpan<int> key)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (int v in key) h = (h ^ (uint)v) * 0x100000001B3UL ^ (h >> 29);
        return h;
    }
}
