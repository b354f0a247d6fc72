namespace Tandem.Engine.Structured;

/// <summary>
/// A byte trie over a small set of strings: the serialized values of an enum, or an object's property names. Node 0
/// is the root. Every node knows which strings pass through it, so the grammar can ask whether a string it still
/// allows lies below (an object's keys narrow as properties are written in order).
/// </summary>
internal sealed class ByteTrie
{
    private readonly TrieEdges _edges;
    private readonly int[] _terminal; // index of the string that ends at the node, or -1
    private readonly int[][] _under;  // indices of the strings at or below the node, ascending

    public ByteTrie(IReadOnlyList<byte[]> strings)
    {
        var children = new List<SortedDictionary<byte, int>> { new() };
        var terminal = new List<int> { -1 };
        var under = new List<List<int>> { new() };
        for (int s = 0; s < strings.Count; s++)
        {
            int node = 0;
            under[0].Add(s);
            foreach (byte b in strings[s])
            {
                if (!children[node].TryGetValue(b, out int next))
                {
                    next = children.Count;
                    children.Add(new SortedDictionary<byte, int>());
                    terminal.Add(-1);
                    under.Add([]);
                    children[node][b] = next;
                }
                node = next;
                under[node].Add(s);
            }
            if (terminal[node] < 0) terminal[node] = s; // a duplicate keeps the first index
        }
        _edges = new TrieEdges(children.Select(c => (IReadOnlyCollection<(byte, int)>)c.Select(kv => (kv.Key, kv.Value)).ToList()).ToList());
        _terminal = [.. terminal];
        _under = under.Select(u => u.ToArray()).ToArray();
    }

    public int NodeCount => _terminal.Length;

    /// <summary>The node reached from <paramref name="node"/> by <paramref name="b"/>, or -1.</summary>
    public int Child(int node, byte b) => _edges.Child(node, b);

    /// <summary>The index of the string that ends at <paramref name="node"/>, or -1.</summary>
    public int Terminal(int node) => _terminal[node];

    public bool IsLeaf(int node) => _edges.Start(node) == _edges.End(node);

    /// <summary>The first bytes of the strings: the root's edges.</summary>
    public IEnumerable<byte> FirstBytes
    {
        get
        {
            for (int e = _edges.Start(0); e < _edges.End(0); e++) yield return _edges.Byte(e);
        }
    }

    /// <summary>Whether a string with index in [<paramref name="lo"/>, <paramref name="hi"/>] passes through <paramref name="node"/>.</summary>
    public bool AnyUnder(int node, int lo, int hi)
    {
        int[] u = _under[node];
        int i = Array.BinarySearch(u, lo);
        if (i < 0) i = ~i;
        return i < u.Length && u[i] <= hi;
    }
}
