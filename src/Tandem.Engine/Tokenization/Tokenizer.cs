using System.Text;
using Tandem.Engine.Gguf;

namespace Tandem.Engine.Tokenization;

/// <summary>
/// Text to token ids and back, built from a GGUF file's own vocabulary, producing exactly what llama.cpp's
/// llama_tokenize / llama_token_to_piece / llama_detokenize produce for the same file and text.
/// </summary>
public abstract class Tokenizer
{
    public Vocabulary Vocabulary { get; }

    protected Tokenizer(Vocabulary vocabulary) => Vocabulary = vocabulary;

    /// <summary>
    /// The tokenizer for <paramref name="gguf"/>'s tokenizer.ggml.model ("llama" or "gpt2"); anything else
    /// throws <see cref="NotSupportedException"/> naming the model type.
    /// </summary>
    public static Tokenizer FromGguf(GgufFile gguf)
    {
        var vocab = new Vocabulary(gguf);
        return vocab.Type switch
        {
            VocabularyType.SentencePiece => new SentencePieceTokenizer(vocab),
            VocabularyType.BytePair => new BytePairTokenizer(vocab),
            _ => throw new NotSupportedException($"tokenizer model '{vocab.Model}' is not supported"),
        };
    }

    public int VocabSize => Vocabulary.Count;
    public int BosId => Vocabulary.BosId;
    public int EosId => Vocabulary.EosId;
    public int EotId => Vocabulary.EotId;

    /// <summary>EOS, EOT, EOM and the other tokens llama.cpp's llama_vocab_is_eog accepts.</summary>
    public bool IsEndOfGeneration(int id) => Vocabulary.IsEndOfGeneration(id);

    /// <summary>The token's text as stored in the vocabulary (U+2581 / GPT-2 byte alphabet, not decoded).</summary>
    public string TokenText(int id) => Vocabulary.Tokens[id];

    /// <summary>
    /// The raw bytes the token stands for (llama.cpp's token_to_piece with special = true), possibly an
    /// incomplete UTF-8 sequence for byte tokens. Shared array: do not modify.
    /// </summary>
    public byte[] TokenBytes(int id) => Vocabulary.Piece(id);

    /// <summary>
    /// Token ids for <paramref name="text"/>, as llama_tokenize(text, add_special: <paramref name="addBos"/>,
    /// parse_special: <paramref name="parseSpecial"/>). Like llama.cpp, <paramref name="addBos"/> adds the
    /// tokens the vocabulary asks for: BOS when its add_bos_token is true, and EOS when add_eos_token is.
    /// With <paramref name="parseSpecial"/> the text of control tokens (e.g. "&lt;|im_end|&gt;") becomes those
    /// tokens; without it only user-defined tokens are matched and control-token text is plain text.
    /// </summary>
    public int[] Encode(string text, bool addBos, bool parseSpecial = false) =>
        EncodeAtMost(text, addBos, parseSpecial, int.MaxValue)!;

    /// <summary>
    /// <see cref="Encode"/> for text that may be far longer than the caller can use: the same ids when there are at
    /// most <paramref name="maxTokens"/>, else null — decided from the text's length alone when that proves it
    /// (<see cref="MinimumTokens"/>), otherwise by stopping as soon as the count passes the limit. Either way the
    /// work is bounded by <paramref name="maxTokens"/>, not by the text: a server refuses an 8 MB prompt without
    /// tokenizing it.
    /// </summary>
    public int[]? EncodeAtMost(string text, bool addBos, bool parseSpecial, int maxTokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxTokens);
        if (MinimumTokens(text, addBos) > maxTokens) return null;
        text = UnicodeClass.Sanitize(text);
        var fragments = SpecialTokenSplitter.Split(Vocabulary, text, parseSpecial);
        var output = new List<int>(Math.Min(text.Length / 3, maxTokens) + 4);
        EncodeFragments(text, fragments, addBos, output, maxTokens);
        return output.Count <= maxTokens ? output.ToArray() : null;
    }

    /// <summary>
    /// A lower bound on <c>Encode(text, addBos).Length</c> that costs one pass over the text and no allocation:
    /// every token stands for at most <see cref="Vocabulary.LongestTokenBytes"/> bytes of it (whitespace beside a
    /// stripping special token stands for none; text a vocabulary cannot spell is dropped, so then only BOS/EOS count).
    /// </summary>
    public long MinimumTokens(string text, bool addBos)
    {
        // Lone surrogates count as the 3 bytes of the U+FFFD that Sanitize puts in their place.
        long bytes = Encoding.UTF8.GetByteCount(text);
        if (Vocabulary.StripsWhitespace)
        {
            var t = text.AsSpan();
            bytes -= t.Count(' ') + t.Count('\t') + t.Count('\n') + t.Count('\v') + t.Count('\f') + t.Count('\r');
        }
        return MinimumTokensOf(bytes, addBos);
    }

    /// <summary>
    /// <see cref="MinimumTokens(string, bool)"/> for a text known only by its UTF-8 length (a string still escaped
    /// in a JSON body, say). With a vocabulary that strips whitespace the length bounds nothing: only BOS/EOS count.
    /// </summary>
    public long MinimumTokens(long utf8Bytes, bool addBos) => MinimumTokensOf(Vocabulary.StripsWhitespace ? 0 : utf8Bytes, addBos);

    private long MinimumTokensOf(long coveredBytes, bool addBos)
    {
        var vocab = Vocabulary;
        long added = addBos ? (vocab.AddBos ? 1 : 0) + (vocab.AddEos ? 1 : 0) : 0;
        if (!vocab.SpellsEveryByte) return added;
        return added + (coveredBytes + vocab.LongestTokenBytes - 1) / vocab.LongestTokenBytes;
    }

    /// <summary>
    /// Tokenizes the fragments of one input (text ranges and already-matched special tokens), stopping once
    /// <paramref name="output"/> holds more than <paramref name="maxTokens"/> ids (a cut-off output is discarded).
    /// </summary>
    private protected abstract void EncodeFragments(string text, List<TextFragment> fragments, bool addSpecial, List<int> output, int maxTokens);

    /// <summary>
    /// The text of <paramref name="ids"/>, as llama_detokenize(remove_special: false, unparse_special:
    /// <paramref name="renderSpecial"/>): pieces concatenated, the first token's leading space dropped when the
    /// vocabulary adds a space prefix (SentencePiece), then llama.cpp's clean-up of spaces where the
    /// vocabulary asks for it. Invalid UTF-8 (e.g. a cut-off byte sequence) decodes to U+FFFD.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool renderSpecial = false)
    {
        var bytes = new List<byte>(ids.Length * 4);
        bool removeSpace = Vocabulary.AddSpacePrefix;
        foreach (int id in ids)
        {
            AppendPiece(id, renderSpecial, removeSpace, bytes);
            removeSpace = false;
        }
        if (Vocabulary.CleanSpaces) CleanSpaces(bytes);
        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    /// <summary>Appends token_to_piece(id, lstrip: <paramref name="stripLeadingSpace"/> ? 1 : 0, special).</summary>
    internal void AppendPiece(int id, bool renderSpecial, bool stripLeadingSpace, List<byte> bytes)
    {
        if ((uint)id >= (uint)Vocabulary.Count) throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the vocabulary (0..{Vocabulary.Count - 1})");
        if (!renderSpecial && Vocabulary.IsHiddenUnlessSpecial(id)) return;
        ReadOnlySpan<byte> piece = Vocabulary.Piece(id);
        if (stripLeadingSpace && piece.Length > 0 && piece[0] == (byte)' ') piece = piece[1..];
        bytes.AddRange(piece);
    }

    /// <summary>llama.cpp's clean_spaces passes over the detokenized bytes (" ?" " !" " ." " ,", " ' ", " 's" ...).</summary>
    private static void CleanSpaces(List<byte> text)
    {
        var t = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(text);
        int total = t.Length;

        int total1 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < total1; i++)
        {
            byte x = t[i];
            if (t[i - 1] == ' ' && x is (byte)'?' or (byte)'!' or (byte)'.' or (byte)',') total--;
            t[total++] = x;
        }

        int total2 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < total2; i++)
        {
            byte x = t[i];
            if (x == '\'' && i + 1 < total2 && t[i - 1] == ' ' && t[i + 1] == ' ')
            {
                total--;
                t[++i] = 0;
            }
            t[total++] = x;
        }

        int total3 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < total3; i++)
        {
            byte x = t[i];
            if (t[i - 1] == ' ' && x == '\'' && i + 1 < total3)
            {
                byte x1 = t[i + 1];
                if (x1 is (byte)'s' or (byte)'m') total--;
                else if (x1 is not ((byte)'t' or (byte)'d') && i + 2 < total3)
                {
                    byte x2 = t[i + 2];
                    if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) total--;
                }
            }
            t[total++] = x;
        }
        text.RemoveRange(total, text.Count - total);
    }
}
