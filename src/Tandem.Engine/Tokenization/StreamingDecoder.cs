using System.Text;

namespace Tandem.Engine.Tokenization;

/// <summary>
/// Turns generated token ids into text one token at a time. Each token contributes llama.cpp's
/// token_to_piece bytes; the first token loses its leading space when the vocabulary adds a space prefix
/// (llama_detokenize's rule, so a SentencePiece "▁Once" first token streams as "Once", but after a BOS or any
/// other first token the space stays). Bytes of a character split across byte-fallback tokens are held back
/// until the character is complete; bytes that can never form a character come out as U+FFFD.
/// llama.cpp's streaming paths (server, cli) do not apply the clean_spaces pass that whole-text
/// <see cref="Tokenizer.Decode"/> does for some BPE vocabularies, and neither does this class.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _renderSpecial;
    private readonly Decoder _utf8 = new UTF8Encoding(false, false).GetDecoder();
    private readonly List<byte> _piece = new();
    private char[] _chars = new char[64];
    private bool _first = true;

    /// <param name="renderSpecial">Render control tokens as their text (llama.cpp's special = true); off by default.</param>
    public StreamingDecoder(Tokenizer tokenizer, bool renderSpecial = false)
    {
        _tokenizer = tokenizer;
        _renderSpecial = renderSpecial;
    }

    /// <summary>Adds one token; returns the text completed by it (possibly empty).</summary>
    public string Add(int id)
    {
        _piece.Clear();
        _tokenizer.AppendPiece(id, _renderSpecial, _first && _tokenizer.Vocabulary.AddSpacePrefix, _piece);
        _first = false;
        return DecodeBytes(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_piece), flush: false);
    }

    /// <summary>Ends the stream: returns held-back bytes of an unfinished character as U+FFFD (or nothing).</summary>
    public string Flush() => DecodeBytes([], flush: true);

    /// <summary>Forgets all state, for a new sequence.</summary>
    public void Reset()
    {
        _utf8.Reset();
        _first = true;
    }

    private string DecodeBytes(ReadOnlySpan<byte> bytes, bool flush)
    {
        int max = _utf8.GetCharCount(bytes, flush);
        if (max == 0 && !flush) { _utf8.GetChars(bytes, [], flush); return ""; }
        if (_chars.Length < max) _chars = new char[Math.Max(max, _chars.Length * 2)];
        int n = _utf8.GetChars(bytes, _chars, flush);
        return new string(_chars, 0, n);
    }
}
