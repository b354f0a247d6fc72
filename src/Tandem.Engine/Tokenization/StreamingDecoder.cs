using System.Text;

namespace Tandem.Engine.Tokenization;

/// <summary>
/// Turns generated token ids into text one token at a time. The text of a continuation is exactly the
/// concatenation of llama.cpp's token_to_piece (lstrip 0) of its tokens, which is what llama.cpp's server
/// streams and llama-cli prints. No token loses its leading space: generated tokens always continue a prompt, so
/// a SentencePiece "▁down" after "The cat sat" is " down". (Whole-text <see cref="Tokenizer.Decode"/>, llama.cpp's
/// llama_detokenize, drops the first token's space instead, because there the first token begins the text.)
/// Bytes of a character split across byte-fallback tokens are held back until the character is complete; bytes
/// that can never form a character come out as U+FFFD. llama.cpp's streaming paths (server, cli) do not apply the
/// clean_spaces pass that <see cref="Tokenizer.Decode"/> does for some BPE vocabularies, and neither does this class.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _renderSpecial;
    private readonly Decoder _utf8 = new UTF8Encoding(false, false).GetDecoder();
    private readonly List<byte> _piece = new();
    private char[] _chars = new char[64];

    /// <param name="renderSpecial">Render control tokens as their text (llama.cpp's special = true); off by default.</param>
    public StreamingDecoder(Tokenizer tokenizer, bool renderSpecial = false)
    {
        _tokenizer = tokenizer;
        _renderSpecial = renderSpecial;
    }

    /// <summary>Adds one token; returns the text completed by it (possibly empty).</summary>
    public string Add(int id) => new(AddChars(id));

    /// <summary>
    /// <see cref="Add"/> without a string: the text completed by the token, in this decoder's buffer, valid until the next
    /// call (a server's loop passes it on to the stop-string matcher and makes one string, or none, of what that releases).
    /// </summary>
    public ReadOnlySpan<char> AddChars(int id)
    {
        _piece.Clear();
        _tokenizer.AppendPiece(id, _renderSpecial, stripLeadingSpace: false, _piece);
        return DecodeChars(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_piece), flush: false);
    }

    /// <summary>Ends the stream: returns held-back bytes of an unfinished character as U+FFFD (or nothing).</summary>
    public string Flush() => new(DecodeChars([], flush: true));

    /// <summary>Forgets all state, for a new sequence.</summary>
    public void Reset() => _utf8.Reset();

    private ReadOnlySpan<char> DecodeChars(ReadOnlySpan<byte> bytes, bool flush)
    {
        int max = _utf8.GetCharCount(bytes, flush);
        if (max == 0 && !flush) { _utf8.GetChars(bytes, [], flush); return []; }
        if (_chars.Length < max) _chars = new char[Math.Max(max, _chars.Length * 2)];
        int n = _utf8.GetChars(bytes, _chars, flush);
        return _chars.AsSpan(0, n);
    }
}
