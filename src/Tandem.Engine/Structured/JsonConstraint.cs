using System.Text;
using Tandem.Engine.Sampling;
using Tandem.Engine.Tokenization;

namespace Tandem.Engine.Structured;

/// <summary>
/// Structured output for one sequence: where its output stands in a <see cref="JsonGrammar"/>, which tokens may
/// come next (<see cref="MaskLogits"/>, given to the <see cref="Sampler"/> as its constraint), and the state after
/// each token taken (<see cref="Accept"/>). End-of-generation tokens are allowed only where the output is a
/// complete value, so an output that ends by end of sequence is valid JSON (and valid against the schema); one cut
/// by max_tokens is a prefix of valid output.
/// </summary>
/// <remarks>
/// One instance per sequence, not thread safe. Masks are computed by walking the vocabulary trie with a copy of
/// the automaton and cached per local state in the grammar (<see cref="TokenMaskCache"/>), so a local state seen
/// before costs a hash, a lookup, a short walk of the tokens that leave the top frame and one pass over the logits;
/// nothing is allocated then.
/// </remarks>
public sealed class JsonConstraint : ITokenConstraint
{
    private readonly Vocabulary _vocabulary;
    private readonly JsonAutomaton _state;
    private readonly JsonAutomaton _walker;
    private readonly VocabularyTrie _trie;
    private readonly TokenMaskCache _cache;
    // The trie walk's stack: the node, its next and end edge and the automaton mark before that edge, per depth.
    private readonly int[] _walkNode;
    private readonly int[] _walkEdge;
    private readonly int[] _walkEnd;
    private readonly (int, int, int)[] _walkMark;
    private readonly byte[] _path; // a trie node's text, replayed
    private readonly ulong[] _bits; // the mask when the cached local one is not the whole answer

    public JsonConstraint(JsonGrammar grammar, Vocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(grammar);
        ArgumentNullException.ThrowIfNull(vocabulary);
        _vocabulary = vocabulary;
        _state = new JsonAutomaton(grammar);
        _walker = new JsonAutomaton(grammar);
        // Everything a mask needs, allocated here: sampling then allocates nothing per token.
        _trie = VocabularyTrie.For(vocabulary);
        _cache = grammar.MasksFor(_trie);
        int levels = _trie.MaxTokenBytes + 1;
        _walkNode = new int[levels];
        _walkEdge = new int[levels];
        _walkEnd = new int[levels];
        _walkMark = new (int, int, int)[levels];
        _path = new byte[_trie.MaxTokenBytes];
        _bits = new ulong[(_trie.VocabSize + 63) >> 6];
    }

    public JsonGrammar Grammar => _state.Grammar;

    /// <summary>True when the output so far is complete: end of sequence is allowed now.</summary>
    public bool IsComplete => _state.IsComplete;

    /// <summary>Where the output stands (for tests: its depth, its whole state).</summary>
    internal JsonAutomaton State => _state;

    /// <summary>
    /// Takes a token if it may come next and returns true; returns false (state unchanged) if not. An
    /// end-of-generation token is taken only where the output is complete (or at a dead end, see
    /// <see cref="MaskLogits"/>), and changes nothing.
    /// </summary>
    public bool TryAccept(int token)
    {
        if (!CanAccept(token)) return false;
        if (!_vocabulary.IsEndOfGeneration(token)) _state.CopyFrom(_walker);
        return true;
    }

    /// <summary>Whether <paramref name="token"/> may come next, tested byte by byte (the walker is left after it).</summary>
    internal bool CanAccept(int token)
    {
        if ((uint)token >= (uint)_vocabulary.Count) return false;
        if (_vocabulary.IsEndOfGeneration(token))
            return _state.IsComplete || (AllowedTokens()[token >> 6] & (1UL << token)) != 0; // complete, or a dead end
        ReadOnlySpan<byte> piece = _vocabulary.Piece(token);
        if (piece.IsEmpty || _vocabulary.IsHiddenUnlessSpecial(token)) return false;
        _walker.CopyFrom(_state);
        foreach (byte b in piece)
        {
            if (!_walker.Advance(b)) return false;
        }
        return true;
    }

    /// <summary>Takes a sampled token; throws <see cref="InvalidOperationException"/> for one the mask did not allow.</summary>
    public void Accept(int token)
    {
        if (!TryAccept(token))
            throw new InvalidOperationException($"token {token} ({Describe(token)}) cannot continue the structured output here");
    }

    /// <summary>Takes tokens already generated (a request resumed on another worker); false at the first one not allowed.</summary>
    public bool TryAcceptAll(ReadOnlySpan<int> tokens)
    {
        foreach (int t in tokens)
        {
            if (!TryAccept(t)) return false;
        }
        return true;
    }

    /// <summary>
    /// Masks every token that cannot continue the output. Where no token can (a vocabulary that lacks a byte the
    /// grammar needs) only end-of-generation tokens stay: the output ends there, not complete.
    /// </summary>
    public void MaskLogits(Span<float> logits) => TokenMask.Apply(logits, AllowedTokens(), _trie.VocabSize);

    /// <summary>Back to nothing written (a tool-call constraint's next call starts here).</summary>
    internal void Reset() => _state.Reset();

    /// <summary>
    /// Takes output bytes that are not a whole token (the end of a token whose start was a tool-call marker); false,
    /// with the state unchanged, when the grammar refuses one of them.
    /// </summary>
    internal bool TryAdvance(ReadOnlySpan<byte> bytes)
    {
        _walker.CopyFrom(_state);
        foreach (byte b in bytes)
        {
            if (!_walker.Advance(b)) return false;
        }
        _state.CopyFrom(_walker);
        return true;
    }

    /// <summary>
    /// The tokens that may come next, one bit per token id: valid until the next call, not to be modified (it may be
    /// the cache's own array). The local state's mask comes from the cache (a trie walk the first time any request of
    /// the grammar meets that local state); only the tokens that end the top frame are then tried against the whole
    /// stack, from the trie nodes the cache recorded.
    /// </summary>
    internal ulong[] AllowedTokens()
    {
        Span<int> key = stackalloc int[JsonAutomaton.LocalKeyInts];
        _state.WriteLocalKey(key, _trie.MaxValuesOpenedPerToken);
        ulong hash = TokenMaskCache.Hash(key);
        var local = _cache.Find(key, hash) ?? ComputeLocal(key, hash);
        bool complete = _state.IsComplete;
        if (local.Boundaries.Length == 0 && !complete && local.AnyToken) return local.Bits;

        local.Bits.CopyTo(_bits, 0);
        bool any = local.AnyToken;
        int[] boundaries = local.Boundaries;
        for (int i = 0; i < boundaries.Length; i += 2)
        {
            _walker.CopyFrom(_state);
            if (!Replay(boundaries[i])) continue;
            any |= Walk(boundaries[i], boundaries[i + 1], boundaries[i + 1] + 1, _bits, boundaries: null);
        }
        FinishMask(_bits, any, complete);
        return _bits;
    }

    /// <summary>The mask by one walk of the whole trie with the whole state, without the cache: what <see cref="AllowedTokens"/> must equal.</summary>
    internal ulong[] AllowedTokensUncached()
    {
        var bits = new ulong[(_trie.VocabSize + 63) >> 6];
        _walker.CopyFrom(_state);
        bool any = Walk(0, _trie.EdgeStart(0), _trie.EdgeEnd(0), bits, boundaries: null);
        FinishMask(bits, any, _state.IsComplete);
        return bits;
    }

    /// <summary>Walks the trie for the local state <paramref name="key"/> and caches what it finds.</summary>
    private TokenMaskCache.LocalMask ComputeLocal(ReadOnlySpan<int> key, ulong hash)
    {
        var trie = _trie;
        var bits = new ulong[(trie.VocabSize + 63) >> 6];
        var boundaries = new List<int>();
        _walker.LoadTopFrame(_state, trie.MaxValuesOpenedPerToken);
        bool any = Walk(0, trie.EdgeStart(0), trie.EdgeEnd(0), bits, boundaries);
        var mask = new TokenMaskCache.LocalMask(key.ToArray(), bits, [.. boundaries], any);
        _cache.Add(hash, mask);
        return mask;
    }

    /// <summary>Advances the walker (a copy of the state) by the text of trie node <paramref name="node"/>.</summary>
    private bool Replay(int node)
    {
        int length = _trie.PathTo(node, _path);
        foreach (byte b in _path.AsSpan(_path.Length - length))
        {
            // Always taken: the cache's walk took these bytes within the top frame, which does not depend on the rest.
            if (!_walker.Advance(b)) return false;
        }
        return true;
    }

    /// <summary>
    /// End of sequence where the output is complete; where no token can continue (a vocabulary that lacks a byte
    /// the grammar needs) end of sequence as well: the output ends there, not complete (finish "length"), rather
    /// than fail every request of the batch.
    /// </summary>
    private void FinishMask(ulong[] bits, bool any, bool complete)
    {
        if (!complete && any) return;
        if (!complete && _trie.EndOfGeneration.Length == 0)
            throw new InvalidOperationException("no token of this vocabulary can continue the structured output, and it has no end-of-sequence token");
        foreach (int t in _trie.EndOfGeneration) bits[t >> 6] |= 1UL << t;
    }

    /// <summary>
    /// Depth-first over the trie from the walker's state at <paramref name="node"/>, along its edges
    /// [<paramref name="firstEdge"/>, <paramref name="endEdge"/>) and everything below them: sets the bit of every
    /// token whose bytes are all taken, and skips a subtree at the first byte refused. In local mode (the walker
    /// loaded by <see cref="JsonAutomaton.LoadTopFrame"/>) a byte that leaves the top frame adds its node and edge to
    /// <paramref name="boundaries"/> instead. Returns whether any token was allowed. The walker is left as it was.
    /// </summary>
    private bool Walk(int node, int firstEdge, int endEdge, ulong[] bits, List<int>? boundaries)
    {
        var trie = _trie;
        bool any = false;
        _walker.Logging = true;
        int sp = 0;
        _walkNode[0] = node;
        _walkEdge[0] = firstEdge;
        _walkEnd[0] = endEdge;
        while (sp >= 0)
        {
            int edge = _walkEdge[sp];
            if (edge == _walkEnd[sp])
            {
                if (--sp >= 0) _walker.Restore(_walkMark[sp]);
                continue;
            }
            _walkEdge[sp] = edge + 1;
            var mark = _walker.Mark();
            var outcome = _walker.Take(trie.EdgeByte(edge));
            if (outcome != JsonAutomaton.ByteOutcome.Taken)
            {
                if (outcome == JsonAutomaton.ByteOutcome.LeavesFrame)
                {
                    boundaries!.Add(_walkNode[sp]);
                    boundaries.Add(edge);
                }
                _walker.Restore(mark);
                continue;
            }
            int child = trie.EdgeTarget(edge);
            foreach (int t in trie.TokensAt(child))
            {
                bits[t >> 6] |= 1UL << t;
                any = true;
            }
            if (trie.EdgeStart(child) == trie.EdgeEnd(child))
            {
                _walker.Restore(mark);
                continue;
            }
            _walkMark[sp] = mark;
            sp++;
            _walkNode[sp] = child;
            _walkEdge[sp] = trie.EdgeStart(child);
            _walkEnd[sp] = trie.EdgeEnd(child);
        }
        _walker.Logging = false;
        return any;
    }

    private string Describe(int token) =>
        (uint)token < (uint)_vocabulary.Count ? $"\"{Encoding.UTF8.GetString(_vocabulary.Piece(token))}\"" : "outside the vocabulary";
}
