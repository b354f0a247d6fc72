using System.Numerics;
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
/// the automaton and cached per state in the grammar (<see cref="TokenMaskCache"/>), so a state seen before costs
/// a hash, a lookup and one pass over the logits; nothing is allocated then.
/// </remarks>
public sealed class JsonConstraint : ITokenConstraint
{
    private readonly Vocabulary _vocabulary;
    private readonly JsonAutomaton _state;
    private readonly JsonAutomaton _walker;
    private VocabularyTrie? _trie;
    private TokenMaskCache? _cache;
    // The trie walk's stack: the node, its next edge and the automaton mark before that edge, per depth.
    private int[] _walkNode = [];
    private int[] _walkEdge = [];
    private (int, int, int)[] _walkMark = [];

    public JsonConstraint(JsonGrammar grammar, Vocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(grammar);
        ArgumentNullException.ThrowIfNull(vocabulary);
        _vocabulary = vocabulary;
        _state = new JsonAutomaton(grammar);
        _walker = new JsonAutomaton(grammar);
    }

    public JsonGrammar Grammar => _state.Grammar;

    /// <summary>True when the output so far is complete: end of sequence is allowed now.</summary>
    public bool IsComplete => _state.IsComplete;

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
    public void MaskLogits(Span<float> logits)
    {
        ulong[] allowed = AllowedTokens();
        int n = Math.Min(logits.Length, _trie!.VocabSize);
        for (int w = 0, words = (n + 63) >> 6; w < words; w++)
        {
            ulong refused = ~allowed[w];
            int at = w << 6;
            if (refused == ulong.MaxValue)
            {
                logits.Slice(at, Math.Min(64, n - at)).Fill(float.NegativeInfinity);
                continue;
            }
            while (refused != 0)
            {
                int i = at + BitOperations.TrailingZeroCount(refused);
                if (i >= n) break;
                logits[i] = float.NegativeInfinity;
                refused &= refused - 1;
            }
        }
        // Rows past the tokenizer's vocabulary (padded output layers) are never valid text.
        if (logits.Length > n) logits[n..].Fill(float.NegativeInfinity);
    }

    /// <summary>The tokens that may come next, one bit per token id (shared with the cache: do not modify).</summary>
    internal ulong[] AllowedTokens()
    {
        _trie ??= VocabularyTrie.For(_vocabulary);
        _cache ??= _state.Grammar.MasksFor(_trie);
        ulong hash = _state.Hash();
        if (_cache.Find(_state, hash) is { } cached) return cached;
        var bits = new ulong[(_trie.VocabSize + 63) >> 6];
        Walk(bits);
        if (Array.TrueForAll(bits, w => w == 0))
        {
            // A vocabulary without a token for a byte the grammar needs: end the sequence (not complete, so the
            // request finishes as "length") rather than fail every request of the batch.
            if (_trie.EndOfGeneration.Length == 0)
                throw new InvalidOperationException("no token of this vocabulary can continue the structured output, and it has no end-of-sequence token");
            foreach (int t in _trie.EndOfGeneration) bits[t >> 6] |= 1UL << t;
        }
        _cache.Add(hash, _state.WriteKey(), bits);
        return bits;
    }

    /// <summary>Depth-first over the trie: a subtree is skipped at the first byte the automaton refuses.</summary>
    private void Walk(ulong[] bits)
    {
        var trie = _trie!;
        int levels = trie.MaxTokenBytes + 1;
        if (_walkNode.Length < levels)
        {
            _walkNode = new int[levels];
            _walkEdge = new int[levels];
            _walkMark = new (int, int, int)[levels];
        }
        _walker.CopyFrom(_state);
        _walker.Logging = true;
        int sp = 0;
        _walkNode[0] = 0;
        _walkEdge[0] = trie.EdgeStart(0);
        while (sp >= 0)
        {
            int node = _walkNode[sp];
            int edge = _walkEdge[sp];
            if (edge == trie.EdgeEnd(node))
            {
                if (--sp >= 0) _walker.Restore(_walkMark[sp]);
                continue;
            }
            _walkEdge[sp] = edge + 1;
            var mark = _walker.Mark();
            if (!_walker.Advance(trie.EdgeByte(edge)))
            {
                _walker.Restore(mark);
                continue;
            }
            int child = trie.EdgeTarget(edge);
            foreach (int t in trie.TokensAt(child)) bits[t >> 6] |= 1UL << t;
            if (trie.EdgeStart(child) == trie.EdgeEnd(child))
            {
                _walker.Restore(mark);
                continue;
            }
            _walkMark[sp] = mark;
            sp++;
            _walkNode[sp] = child;
            _walkEdge[sp] = trie.EdgeStart(child);
        }
        _walker.Logging = false;
        if (_state.IsComplete)
        {
            foreach (int t in trie.EndOfGeneration) bits[t >> 6] |= 1UL << t;
        }
    }

    private string Describe(int token) =>
        (uint)token < (uint)_vocabulary.Count ? $"\"{Encoding.UTF8.GetString(_vocabulary.Piece(token))}\"" : "outside the vocabulary";
}
