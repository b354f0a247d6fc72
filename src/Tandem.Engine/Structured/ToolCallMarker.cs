using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using Tandem.Engine.Tokenization;

namespace Tandem.Engine.Structured;

/// <summary>
/// Finds a tool-call marker (<c>&lt;tool_call&gt;</c>, <c>[TOOL_CALLS]</c>, <c>&lt;|python_tag|&gt;</c>) in output text
/// as it streams, byte by byte: anywhere (a Knuth-Morris-Pratt matcher) or, for formats whose call is the whole reply,
/// only at its start after optional whitespace. Per vocabulary it knows, for every match state, the tokens that would
/// complete the marker and then go on with text the call cannot start with, which a constraint refuses: after the
/// marker the call's grammar decides every byte. Built once per (vocabulary, marker) and shared.
/// </summary>
internal sealed class ToolCallMarker
{
    /// <summary>The state after a byte that ends any chance of an anchored marker: the reply is text.</summary>
    public const int Dead = -1;

    private static readonly ConditionalWeakTable<Vocabulary, ConcurrentDictionary<(string, bool, bool), ToolCallMarker>> Cache = new();

    private readonly byte[] _marker;
    private readonly int[] _fail; // KMP: the longest proper border of marker[..i+1]
    private readonly bool _anchored;
    private readonly int[][] _refused; // per state: tokens that complete the marker and go on with text not allowed after it

    /// <param name="whitespaceTail">Whether whitespace may follow the marker in the same token (a JSON call may begin with it).</param>
    public static ToolCallMarker For(Vocabulary vocabulary, string marker, bool anchored, bool whitespaceTail) =>
        Cache.GetValue(vocabulary, _ => new()).GetOrAdd((marker, anchored, whitespaceTail), k => new ToolCallMarker(vocabulary, k.Item1, k.Item2, k.Item3));

    private ToolCallMarker(Vocabulary vocabulary, string marker, bool anchored, bool whitespaceTail)
    {
        _marker = Encoding.UTF8.GetBytes(marker);
        _anchored = anchored;
        _fail = new int[_marker.Length];
        for (int i = 1, k = 0; i < _marker.Length; i++)
        {
            while (k > 0 && _marker[i] != _marker[k]) k = _fail[k - 1];
            if (_marker[i] == _marker[k]) k++;
            _fail[i] = k;
        }
        int token = vocabulary.TextToToken(marker);
        ControlToken = token != Vocabulary.NoToken && vocabulary.IsHiddenUnlessSpecial(token) ? token : Vocabulary.NoToken;

        var refused = new List<int>[_marker.Length];
        var brace = new List<int>();
        for (int s = 0; s < refused.Length; s++) refused[s] = [];
        for (int t = 0; t < vocabulary.Count; t++)
        {
            if (vocabulary.IsEndOfGeneration(t) || vocabulary.IsHiddenUnlessSpecial(t)) continue;
            byte[] piece = vocabulary.Piece(t);
            if (piece.Length == 0) continue;
            if (FirstNonWhitespace(piece) == '{') brace.Add(t);
            for (int s = 0; s < refused.Length; s++)
            {
                int end = MatchEnd(s, piece);
                if (end >= 0 && !(whitespaceTail ? IsCallWhitespace(piece.AsSpan(end)) : end == piece.Length))
                    refused[s].Add(t);
            }
        }
        _refused = refused.Select(r => r.ToArray()).ToArray();
        BraceTokens = [.. brace];
    }

    public int Length => _marker.Length;

    /// <summary>Whether the marker counts only at the start of the reply.</summary>
    public bool Anchored => _anchored;

    /// <summary>The control token that is the marker (shown as no text), or <see cref="Vocabulary.NoToken"/>.</summary>
    public int ControlToken { get; }

    /// <summary>Tokens whose text, after any whitespace, starts with <c>{</c> (a Llama 3.x reply that opens as a call).</summary>
    public int[] BraceTokens { get; }

    /// <summary>Tokens refused in <paramref name="state"/>: they would complete the marker and go on with text not allowed after it.</summary>
    public ReadOnlySpan<int> Refused(int state) => _refused[state];

    /// <summary>The state after byte <paramref name="b"/>: the marker bytes matched, <see cref="Length"/> when it is complete, or <see cref="Dead"/>.</summary>
    public int Step(int state, byte b)
    {
        if (_anchored)
        {
            if (state == 0 && IsWhitespace(b)) return 0;
            return b == _marker[state] ? state + 1 : Dead;
        }
        while (state > 0 && b != _marker[state]) state = _fail[state - 1];
        return b == _marker[state] ? state + 1 : 0;
    }

    /// <summary>Where the marker ends in <paramref name="text"/> read from <paramref name="state"/> (the index after it), or -1.</summary>
    public int MatchEnd(int state, ReadOnlySpan<byte> text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            state = Step(state, text[i]);
            if (state == Dead) return -1;
            if (state == _marker.Length) return i + 1;
        }
        return -1;
    }

    /// <summary>
    /// Whether <paramref name="text"/> is whitespace that a JSON call may begin with (its grammar's rule: nothing, one
    /// space, or a newline and indentation).
    /// </summary>
    public static bool IsCallWhitespace(ReadOnlySpan<byte> text)
    {
        if (text.IsEmpty) return true;
        if (text.Length == 1 && text[0] == ' ') return true;
        if (text[0] != '\n' || text.Length - 1 > JsonAutomaton.MaxIndent) return false;
        foreach (byte b in text[1..])
        {
            if (b is not ((byte)' ' or (byte)'\t')) return false;
        }
        return true;
    }

    public static int FirstNonWhitespace(ReadOnlySpan<byte> text)
    {
        foreach (byte b in text)
        {
            if (!IsWhitespace(b)) return b;
        }
        return -1;
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\n' or (byte)'\t' or (byte)'\r';
}
