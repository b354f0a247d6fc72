namespace Tandem.Engine.Structured;

/// <summary>
/// The edges of a byte trie in flat arrays (node n's edges are [Start(n), End(n)), in the order given): what both
/// tries here walk, without an object per node.
/// </summary>
internal readonly struct TrieEdges
{
    private readonly int[] _start;
    private readonly byte[] _byte;
    private readonly int[] _target;

    /// <param name="edges">Per node, its (byte, child node) edges.</param>
    public TrieEdges(IReadOnlyList<IReadOnlyCollection<(byte Byte, int Target)>> edges)
    {
        int n = edges.Count;
        _start = new int[n + 1];
        for (int i = 0; i < n; i++) _start[i + 1] = _start[i] + edges[i].Count;
        _byte = new byte[_start[n]];
        _target = new int[_start[n]];
        for (int i = 0; i < n; i++)
        {
            int e = _start[i];
            foreach (var (b, target) in edges[i])
            {
                _byte[e] = b;
                _target[e++] = target;
            }
        }
    }

    public int Start(int node) => _start[node];
    public int End(int node) => _start[node + 1];
    public byte Byte(int edge) => _byte[edge];
    public int Target(int edge) => _target[edge];

    /// <summary>The child of <paramref name="node"/> along <paramref name="b"/>, or -1 (a scan: for small fan-outs).</summary>
    public int Child(int node, byte b)
    {
        for (int e = _start[node], end = _start[node + 1]; e < end; e++)
        {
            if (_byte[e] == b) return _target[e];
        }
        return -1;
    }
}
