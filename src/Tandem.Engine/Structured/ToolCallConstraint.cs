using Tandem.Engine.Chat;
using Tandem.Engine.Sampling;
using Tandem.Engine.Tokenization;

namespace Tandem.Engine.Structured;

/// <summary>
/// Tool calls enforced in a reply that may also be text (tool_choice "auto"): free text until the model writes its
/// format's call marker, then the call's grammar (<see cref="ToolCallSyntax.Call"/>: a declared tool's name and
/// arguments valid for that tool's parameters) until the call is complete, then the format's closing text, and then
/// text again (Hermes, parallel calls allowed), the next call (Mistral's <c>,</c>, Llama 3.x's <c>;</c>) or the end.
/// </summary>
/// <remarks>
/// The formats, as <see cref="Chat.Tools.ToolCallStreamParser"/> reads them:
/// Hermes/Qwen: <c>&lt;tool_call&gt;</c> anywhere, the call, then <c>&lt;/tool_call&gt;</c> (after an optional newline).
/// Mistral: <c>[TOOL_CALLS]</c> at the start (its control token, or the text), then <c>[</c>, calls separated by
/// <c>,</c>, and <c>]</c>. Llama 3.x: a reply that starts with <c>{</c> or <c>&lt;|python_tag|&gt;</c> is the call;
/// calls separated by <c>;</c>. Text before the marker is never masked except for the few tokens that would complete
/// the marker and go on with text the call cannot start with. The state is a phase and a few ints (and the call's
/// <see cref="JsonConstraint"/>), all derived from the tokens taken, so a request resumed on another process rebuilds
/// it with <see cref="ITokenConstraint.TryAcceptAll"/>. One instance per sequence; masks allocate nothing.
/// </remarks>
public sealed class ToolCallConstraint : ITokenConstraint
{
    private enum Phase : byte
    {
        /// <summary>Text, watching for the marker.</summary>
        Watching,
        /// <summary>Text that can no longer become a call (the marker of a whole-reply format did not open it).</summary>
        Text,
        /// <summary>Inside a call: the call's grammar decides.</summary>
        Call,
        /// <summary>Fixed text around calls (one of a few alternatives), or the end.</summary>
        Literal,
    }

    /// <summary>Where a literal alternative leads once written.</summary>
    private enum Next : byte { Call, Watching, End }

    /// <summary>Alternatives of fixed text (prefix-free), where each leads, and whether the reply may end instead.</summary>
    private sealed class Literals(string[] texts, Next[] next, bool mayEnd)
    {
        public ByteTrie Trie { get; } = new(texts.Select(t => System.Text.Encoding.UTF8.GetBytes(t)).ToList());
        public Next[] Leads { get; } = next;
        public bool MayEnd { get; } = mayEnd;
    }

    private static readonly Literals End = new([], [], mayEnd: true);

    private readonly Vocabulary _vocabulary;
    private readonly VocabularyTrie _trie;
    private readonly JsonConstraint _call;
    private readonly ToolCallMarker _marker;
    private readonly bool _braceOpensCall;
    private readonly Literals? _open;
    private readonly Literals _afterCall;
    private readonly ulong[] _bits;

    private Phase _phase = Phase.Watching;
    private int _match; // marker bytes matched (Watching)
    private Literals _literals = End; // Literal: the alternatives, and the node reached in their trie
    private int _literalNode;

    public ToolCallConstraint(ToolCallSyntax syntax, Vocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(syntax);
        ArgumentNullException.ThrowIfNull(vocabulary);
        _vocabulary = vocabulary;
        _trie = VocabularyTrie.For(vocabulary);
        _call = new JsonConstraint(syntax.Call, vocabulary);
        _bits = TokenMask.NewBits(_trie.VocabSize);
        bool p = syntax.Parallel;
        switch (syntax.Format)
        {
            case ToolCallFormat.Hermes:
                _marker = ToolCallMarker.For(vocabulary, "<tool_call>", anchored: false, whitespaceTail: true);
                var after = p ? Next.Watching : Next.End;
                _afterCall = new Literals(["</tool_call>", "\n</tool_call>"], [after, after], mayEnd: false);
                break;
            case ToolCallFormat.Mistral:
                _marker = ToolCallMarker.For(vocabulary, "[TOOL_CALLS]", anchored: true, whitespaceTail: false);
                _open = new Literals(["["], [Next.Call], mayEnd: false);
                _afterCall = p ? new Literals(["]", ","], [Next.End, Next.Call], mayEnd: false) : new Literals(["]"], [Next.End], mayEnd: false);
                break;
            default:
                _marker = ToolCallMarker.For(vocabulary, "<|python_tag|>", anchored: true, whitespaceTail: true);
                _braceOpensCall = true;
                _afterCall = p ? new Literals([";"], [Next.Call], mayEnd: true) : End;
                break;
        }
    }

    /// <summary>True inside a call (for tests and traces): the call's grammar decides the next token.</summary>
    public bool InCall => _phase == Phase.Call;

    public bool IsComplete => _phase switch
    {
        Phase.Call => false,
        Phase.Literal => _literals.MayEnd,
        _ => true,
    };

    public void MaskLogits(Span<float> logits)
    {
        switch (_phase)
        {
            case Phase.Text:
                return;
            case Phase.Call:
                _call.MaskLogits(logits);
                return;
            case Phase.Literal:
                Array.Clear(_bits);
                AllowLiteral(0, _literalNode);
                if (_literals.MayEnd)
                {
                    foreach (int t in _trie.EndOfGeneration) TokenMask.Allow(_bits, t);
                }
                TokenMask.Apply(logits, _bits, _trie.VocabSize);
                return;
            default:
                foreach (int t in _marker.Refused(_match))
                {
                    if (t < logits.Length) logits[t] = float.NegativeInfinity;
                }
                if (_braceOpensCall && _match == 0)
                {
                    // A Llama 3.x reply that opens with '{' is a call: such a first token must be one the call allows.
                    ulong[] allowed = _call.AllowedTokens();
                    foreach (int t in _marker.BraceTokens)
                    {
                        if (t < logits.Length && !TokenMask.IsAllowed(allowed, t)) logits[t] = float.NegativeInfinity;
                    }
                }
                return;
        }
    }

    public bool TryAccept(int token)
    {
        if ((uint)token >= (uint)_vocabulary.Count) return false;
        if (_vocabulary.IsEndOfGeneration(token))
        {
            return _phase switch
            {
                Phase.Call => _call.TryAccept(token), // the call's grammar at a dead end lets the reply end, cut
                Phase.Literal => _literals.MayEnd,
                _ => true,
            };
        }
        switch (_phase)
        {
            case Phase.Text:
                return true;
            case Phase.Call:
                if (!_call.TryAccept(token)) return false;
                if (_call.IsComplete) EnterLiteral(_afterCall);
                return true;
            case Phase.Literal:
                return AcceptLiteral(token);
            default:
                return AcceptWatching(token);
        }
    }

    public void Accept(int token)
    {
        if (!TryAccept(token))
            throw new InvalidOperationException($"token {token} cannot continue the reply's tool call here");
    }

    private bool AcceptWatching(int token)
    {
        if (_vocabulary.IsHiddenUnlessSpecial(token))
        {
            if (token == _marker.ControlToken && (!_marker.Anchored || _match == 0)) OpenCall();
            return true; // other control tokens add no text
        }
        byte[] piece = _vocabulary.Piece(token);
        if (piece.Length == 0) return true;
        if (_braceOpensCall && _match == 0 && ToolCallMarker.FirstNonWhitespace(piece) == '{')
        {
            _call.Reset();
            if (!_call.TryAccept(token)) return false;
            _phase = Phase.Call;
            if (_call.IsComplete) EnterLiteral(_afterCall);
            return true;
        }
        int state = _match;
        for (int i = 0; i < piece.Length; i++)
        {
            state = _marker.Step(state, piece[i]);
            if (state == ToolCallMarker.Dead)
            {
                _phase = Phase.Text;
                return true;
            }
            if (state < _marker.Length) continue;
            var tail = piece.AsSpan(i + 1);
            if (_open is not null ? !tail.IsEmpty : !ToolCallMarker.IsCallWhitespace(tail)) return false;
            OpenCall();
            return tail.IsEmpty || _call.TryAdvance(tail);
        }
        _match = state;
        return true;
    }

    /// <summary>The marker is written: the format's opening text, or the call itself.</summary>
    private void OpenCall()
    {
        _match = 0;
        if (_open is not null) EnterLiteral(_open);
        else StartCall();
    }

    private void StartCall()
    {
        _call.Reset();
        _phase = Phase.Call;
    }

    private void EnterLiteral(Literals literals)
    {
        _phase = Phase.Literal;
        _literals = literals;
        _literalNode = 0;
    }

    private bool AcceptLiteral(int token)
    {
        if (_vocabulary.IsHiddenUnlessSpecial(token)) return false;
        byte[] piece = _vocabulary.Piece(token);
        if (piece.Length == 0) return false;
        int node = _literalNode;
        for (int i = 0; i < piece.Length; i++)
        {
            node = _literals.Trie.Child(node, piece[i]);
            if (node < 0) return false;
            int done = _literals.Trie.Terminal(node);
            if (done < 0) continue;
            if (i != piece.Length - 1) return false; // the alternatives are prefix-free: nothing follows one in its token
            switch (_literals.Leads[done])
            {
                case Next.Call: StartCall(); break;
                case Next.Watching: _phase = Phase.Watching; _match = 0; break;
                default: EnterLiteral(End); break;
            }
            return true;
        }
        _literalNode = node;
        return true;
    }

    /// <summary>
    /// Allows every token whose text continues the literal alternatives from their trie's node <paramref name="literal"/>
    /// without going past the end of one: a walk of the vocabulary trie (at <paramref name="node"/>) along them.
    /// </summary>
    private void AllowLiteral(int node, int literal)
    {
        for (int e = _trie.EdgeStart(node), end = _trie.EdgeEnd(node); e < end; e++)
        {
            int next = _literals.Trie.Child(literal, _trie.EdgeByte(e));
            if (next < 0) continue;
            int child = _trie.EdgeTarget(e);
            foreach (int t in _trie.TokensAt(child)) TokenMask.Allow(_bits, t);
            if (_literals.Trie.Terminal(next) < 0) AllowLiteral(child, next);
        }
    }
}
