using System.Runtime.CompilerServices;
using Tandem.Engine.Tokenization;

namespace Tandem.Engine.Structured;

/// <summary>
/// The vocabulary as a byte trie of the text each token adds to the output (its piece as streamed: control and
/// unknown tokens add none). Walking it with the automaton tests a shared prefix once for every token that starts
/// with it, and drops a whole subtree at the first byte the grammar refuses — the way llama.cpp's grammar sampler,
/// outlines and xgrammar avoid testing 50k tokens one by one. Built once per vocabulary.
/// </summary>
internal sealed class VocabularyTrie
{
    private static readonly ConditionalWeakTable<Vocabulary, VocabularyTrie> ByVocabulary = new();

    private readonly TrieEdges _edges; // children in byte order
    private readonly int[] _tokenStart; // tokens whose text ends at node n: _tokens[_tokenStart[n] .. _tokenStart[n + 1])
    private readonly int[] _tokens;
    private readonly int[] _parent; // the node one byte up (-1 at the root), and that byte: a node's text read backwards
    private readonly byte[] _parentByte;

    public static VocabularyTrie For(Vocabulary vocabulary) => ByVocabulary.GetValue(vocabulary, v => new VocabularyTrie(v));

    private VocabularyTrie(Vocabulary vocabulary)
    {
        VocabSize = vocabulary.Count;
        EndOfGeneration = [.. vocabulary.EndOfGenerationIds.Order()];
        // Tokens that add no text are left out: they would let a constrained output run on without progress.
        var ids = Enumerable.Range(0, vocabulary.Count)
            .Where(id => !vocabulary.IsEndOfGeneration(id) && !vocabulary.IsHiddenUnlessSpecial(id) && vocabulary.Piece(id).Length > 0)
            .ToArray();
        Array.Sort(ids, (a, b) => vocabulary.Piece(a).AsSpan().SequenceCompareTo(vocabulary.Piece(b)) is var c && c != 0 ? c : a.CompareTo(b));

        // Sorted pieces make every subtree a contiguous run of ids: build nodes depth first over those runs.
        var tokenStart = new List<int>();
        var tokens = new List<int>(ids.Length);
        var nodeEdges = new List<List<(byte Byte, int Target)>>();
        var parent = new List<int>();
        var parentByte = new List<byte>();

        int Build(int lo, int hi, int depth, int up, byte upByte)
        {
            int node = nodeEdges.Count;
            nodeEdges.Add([]);
            parent.Add(up);
            parentByte.Add(upByte);
            tokenStart.Add(tokens.Count);
            int i = lo;
            while (i < hi && vocabulary.Piece(ids[i]).Length == depth) tokens.Add(ids[i++]);
            // The next node's tokenStart ends this node's tokens, so they are added before any child is built.
            var groups = new List<(byte Byte, int Lo, int Hi)>();
            while (i < hi)
            {
                byte b = vocabulary.Piece(ids[i])[depth];
                int j = i + 1;
                while (j < hi && vocabulary.Piece(ids[j])[depth] == b) j++;
                groups.Add((b, i, j));
                i = j;
            }
            foreach (var (b, glo, ghi) in groups)
            {
                int child = Build(glo, ghi, depth + 1, node, b);
                nodeEdges[node].Add((b, child));
            }
            MaxTokenBytes = Math.Max(MaxTokenBytes, depth);
            return node;
        }
        Build(0, ids.Length, 0, -1, 0);
        tokenStart.Add(tokens.Count);

        _edges = new TrieEdges(nodeEdges);
        _tokenStart = [.. tokenStart];
        _tokens = [.. tokens];
        _parent = [.. parent];
        _parentByte = [.. parentByte];
        MaxValuesOpenedPerToken = ids.Length == 0 ? 0 : ids.Max(id => ValuesOpenedAtMost(vocabulary.Piece(id)));
    }

    /// <summary>
    /// At most how many JSON values a token's text can begin (each opens an automaton frame). A value begins with
    /// one of <c>{ [ " - 0-9 t f n</c> (a serialized enum value too), at the start of the text or after a byte that
    /// may precede a value (<c>[ { , :</c> or whitespace); anything else continues what is open.
    /// </summary>
    private static int ValuesOpenedAtMost(ReadOnlySpan<byte> text)
    {
        int n = 0;
        for (int i = 0; i < text.Length; i++)
        {
            bool start = text[i] is (byte)'{' or (byte)'[' or (byte)'"' or (byte)'-' or (byte)'t' or (byte)'f' or (byte)'n' or >= (byte)'0' and <= (byte)'9';
            if (start && (i == 0 || text[i - 1] is (byte)'[' or (byte)'{' or (byte)',' or (byte)':' or (byte)' ' or (byte)'\n' or (byte)'\t' or (byte)'\r'))
                n++;
        }
        return n;
    }

    public int VocabSize { get; }
    public int NodeCount => _tokenStart.Length - 1;
    /// <summary>The longest token text in bytes: the deepest the trie goes.</summary>
    public int MaxTokenBytes { get; private set; }
    /// <summary>End-of-generation ids, allowed only where the output is complete.</summary>
    public int[] EndOfGeneration { get; }

    public int EdgeStart(int node) => _edges.Start(node);
    public int EdgeEnd(int node) => _edges.End(node);
    public byte EdgeByte(int edge) => _edges.Byte(edge);
    public int EdgeTarget(int edge) => _edges.Target(edge);
    /// <summary>Bounds how deep one token can nest: masks need not tell apart depths with more room than this left.</summary>
    public int MaxValuesOpenedPerToken { get; }

    /// <summary>Writes the text from the root to <paramref name="node"/> into the end of <paramref name="buffer"/>; returns its length.</summary>
    public int PathTo(int node, Span<byte> buffer)
    {
        int at = buffer.Length;
        for (; _parent[node] >= 0; node = _parent[node]) buffer[--at] = _parentByte[node];
        return buffer.Length - at;
    }

    public ReadOnlySpan<int> TokensAt(int node) => _tokens.AsSpan(_tokenStart[node], _tokenStart[node + 1] - _tokenStart[node]);
}
