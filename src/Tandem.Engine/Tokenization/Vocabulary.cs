using System.Globalization;
using System.Text;
using Tandem.Engine.Gguf;

namespace Tandem.Engine.Tokenization;

/// <summary>
/// A GGUF file's tokenizer vocabulary with the defaults, overrides and text-based special-token detection of
/// llama.cpp's llama_vocab::impl::load, so that ids, flags and end-of-generation tokens match llama.cpp.
/// </summary>
public sealed class Vocabulary
{
    public const int NoToken = -1;
    private const string Key = "tokenizer.ggml.";

    private readonly Dictionary<string, int> _textToId;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _textToIdSpan;
    private readonly Dictionary<string, int> _mergeRanks;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _mergeRanksSpan;
    private readonly HashSet<int> _eog = new();
    private readonly byte[][] _pieces; // llama.cpp's cache_token_to_piece: token_to_piece(id, special: true)

    public string Model { get; }
    public VocabularyType Type { get; }
    /// <summary>tokenizer.ggml.pre as stored (null when absent); only byte-level BPE uses it.</summary>
    public string? PreTokenizerName { get; }
    internal PreTokenizer? PreTokenizer { get; }

    public IReadOnlyList<string> Tokens { get; }
    public IReadOnlyList<float> Scores { get; }
    public IReadOnlyList<TokenAttributes> Attributes { get; }
    public int Count => Tokens.Count;
    public int MergeCount => _mergeRanks.Count;

    public int BosId { get; }
    public int EosId { get; }
    public int EotId { get; }
    public int EomId { get; }
    public int UnkId { get; }
    public int PadId { get; }
    public int LinefeedId { get; }
    public bool AddBos { get; }
    public bool AddEos { get; }
    public bool AddSpacePrefix { get; }
    public bool CleanSpaces { get; }
    public bool IgnoreMerges { get; }
    public IReadOnlyCollection<int> EndOfGenerationIds => _eog;

    /// <summary>Control, user-defined and unknown tokens, longest text first (llama.cpp's cache_special_tokens).</summary>
    public IReadOnlyList<int> SpecialTokens { get; }

    /// <summary>
    /// The most bytes of input text one token can stand for (its piece, or the text it is matched by), so that a
    /// text of B bytes needs at least B / LongestTokenBytes tokens. See <see cref="Tokenizer.MinimumTokens"/>.
    /// </summary>
    public int LongestTokenBytes { get; }

    /// <summary>
    /// Whether every byte of input ends up in some token: false when a vocabulary lacks byte tokens (and, for
    /// SentencePiece, an unknown token), so that text it cannot spell is dropped and byte counts bound nothing.
    /// </summary>
    public bool SpellsEveryByte { get; }

    /// <summary>Whether a special token strips the whitespace beside it (lstrip / rstrip): that whitespace is in no token.</summary>
    public bool StripsWhitespace { get; }

    public Vocabulary(GgufFile gguf)
    {
        string path = gguf.Path;
        Model = gguf.GetString(Key + "model")
            ?? throw new NotSupportedException($"{path}: no tokenizer (metadata '{Key}model' is missing)");
        PreTokenizerName = gguf.GetString(Key + "pre");

        int bos, eos, unk;
        bool addBos, addEos, addSpacePrefix, cleanSpaces, ignoreMerges = false;
        switch (Model)
        {
            case "llama":
                Type = VocabularyType.SentencePiece;
                bos = 1; eos = 2; unk = 0;
                addSpacePrefix = true; cleanSpaces = false; addBos = true; addEos = false;
                _mergeRanks = new Dictionary<string, int>(StringComparer.Ordinal);
                break;
            case "gpt2":
                Type = VocabularyType.BytePair;
                bos = 11; eos = 11; unk = NoToken;
                PreTokenizer = PreTokenizer.ForName(PreTokenizerName);
                addSpacePrefix = false; cleanSpaces = PreTokenizer.CleanSpaces; ignoreMerges = PreTokenizer.IgnoreMerges;
                addBos = PreTokenizer.AddBos; addEos = false;
                if (PreTokenizer.NoDefaultBos) bos = NoToken;
                _mergeRanks = ReadMerges(gguf);
                break;
            default:
                throw new NotSupportedException(
                    $"{path}: tokenizer model '{Model}' is not supported (supported: 'llama' = SentencePiece, 'gpt2' = byte-level BPE)");
        }
        _mergeRanksSpan = _mergeRanks.GetAlternateLookup<ReadOnlySpan<char>>();
        addSpacePrefix = gguf.GetBool(Key + "add_space_prefix") ?? addSpacePrefix;

        string[] tokens = gguf.GetArray<string>(Key + "tokens")
            ?? throw new GgufFormatException($"{path}: tokenizer vocabulary '{Key}tokens' is missing");
        int n = tokens.Length;
        var scores = new float[n];
        if (gguf.Metadata.TryGetValue(Key + "scores", out var sv))
        {
            switch (sv.Value)
            {
                case float[] f when f.Length >= n: Array.Copy(f, scores, n); break;
                case int[] iv when iv.Length >= n: for (int i = 0; i < n; i++) scores[i] = iv[i]; break;
                default: throw new GgufFormatException($"{path}: '{Key}scores' must be a float32 or int32 array of at least {n} elements");
            }
        }
        var attrs = new TokenAttributes[n];
        int[]? types = gguf.Has(Key + "token_type") ? gguf.GetIntArray(Key + "token_type") : null;
        if (types != null && types.Length < n)
            throw new GgufFormatException($"{path}: '{Key}token_type' has {types.Length} entries for {n} tokens");
        _textToId = new Dictionary<string, int>(n, StringComparer.Ordinal);
        for (int i = 0; i < n; i++)
        {
            if (tokens[i].Length == 0) tokens[i] = "[EMPTY_" + i.ToString(CultureInfo.InvariantCulture) + "]";
            // llama.cpp refuses duplicate token texts; here the first id wins, because lossy UTF-8 decoding of
            // malformed token bytes could make distinct tokens collide.
            _textToId.TryAdd(tokens[i], i);
            attrs[i] = types == null ? TokenAttributes.Normal : types[i] switch
            {
                1 => TokenAttributes.Normal,
                2 => TokenAttributes.Unknown,
                3 => TokenAttributes.Control,
                4 => TokenAttributes.UserDefined,
                5 => TokenAttributes.Unused,
                6 => TokenAttributes.Byte,
                _ => TokenAttributes.Undefined,
            };
        }
        _textToIdSpan = _textToId.GetAlternateLookup<ReadOnlySpan<char>>();
        Tokens = tokens;
        Scores = scores;

        // Default ids outside the vocabulary are disabled, then GGUF ids override (out-of-range ones ignored).
        int Special(string name, int fallback)
        {
            if (fallback >= n) fallback = NoToken;
            long? v = gguf.Has(Key + name) ? gguf.GetInteger(Key + name) : null;
            return v is long id && id >= 0 && id < n ? (int)id : fallback;
        }
        BosId = Special("bos_token_id", bos);
        EosId = Special("eos_token_id", eos);
        int eot = Special("eot_token_id", NoToken);
        int eom = Special("eom_token_id", NoToken);
        UnkId = Special("unknown_token_id", unk);
        PadId = Special("padding_token_id", NoToken);
        int fimPad = Special("fim_pad_token_id", NoToken);
        int fimRep = Special("fim_rep_token_id", NoToken);
        int fimSep = Special("fim_sep_token_id", NoToken);

        AddBos = gguf.GetBool(Key + "add_bos_token") ?? addBos;
        AddEos = gguf.GetBool(Key + "add_eos_token") ?? addEos;
        if (AddBos && BosId == NoToken) throw new GgufFormatException($"{path}: {Key}add_bos_token is true, but {Key}bos_token_id is not set");
        if (AddEos && EosId == NoToken) throw new GgufFormatException($"{path}: {Key}add_eos_token is true, but {Key}eos_token_id is not set");
        AddSpacePrefix = addSpacePrefix;
        CleanSpaces = cleanSpaces;
        IgnoreMerges = ignoreMerges;

        // llama.cpp finds EOT/EOM/FIM tokens by their text when the ids are not given, and forces such
        // tokens to be control tokens. (It scans a hash map, so with several candidates its pick is
        // unspecified; here the lowest id wins. All candidates end up end-of-generation either way.)
        for (int id = 0; id < n; id++)
        {
            string t = tokens[id];
            if (eot == NoToken && t is "<|eot_id|>" or "<|im_end|>" or "<|end|>" or "<end_of_turn>" or "<|endoftext|>"
                    or "<|end_of_text|>" or "<EOT>" or "_<EOT>" or "[EOT]" or "<｜end▁of▁sentence｜>" or "<end_of_utterance>")
            { eot = id; attrs[id] |= TokenAttributes.Control; }
            if (eom == NoToken && t == "<|eom_id|>") { eom = id; attrs[id] |= TokenAttributes.Control; }
            if (fimPad == NoToken && t is "<|fim_pad|>" or "<fim-pad>" or "<fim_pad>" or "<PAD>" or "[PAD]") { fimPad = id; attrs[id] |= TokenAttributes.Control; }
            if (fimRep == NoToken && t is "<|fim_repo|>" or "<|repo_name|>" or "<fim-repo>" or "<REPO>" or "<reponame>") { fimRep = id; attrs[id] |= TokenAttributes.Control; }
            if (fimSep == NoToken && t == "<|file_sep|>") { fimSep = id; attrs[id] |= TokenAttributes.Control; }
        }
        EotId = eot;
        EomId = eom;

        for (int id = 0; id < n; id++)
            if ((attrs[id] & TokenAttributes.Control) != 0 && tokens[id].Contains("unused", StringComparison.Ordinal))
                attrs[id] |= TokenAttributes.Unused;

        foreach (int id in (int[])[fimPad, fimRep, fimSep])
            if (id != NoToken) _eog.Add(id);
        for (int id = 0; id < n; id++)
        {
            if (tokens[id] is "<|eot_id|>" or "<|im_end|>" or "<|end|>" or "<|return|>" or "<|call|>" or "<|flush|>" or "<|calls|>"
                or "<end_of_turn>" or "<|endoftext|>" or "</s>" or "<|eom_id|>" or "<EOT>" or "_<EOT>" or "[EOT]" or "[EOS]"
                or "<|end_of_text|>" or "<end_of_utterance>" or "<eos>" or "<turn|>" or "<|tool_response>" or "<｜end▁of▁sentence｜>" or "[e~[")
            {
                _eog.Add(id);
                attrs[id] |= TokenAttributes.Control;
            }
            // gpt-oss: llama.cpp always renders these
            if (tokens[id] is "<|channel|>" or "<|message|>" or "<|start|>" or "<|constrain|>") attrs[id] = TokenAttributes.UserDefined;
        }
        if (EosId != NoToken) _eog.Add(EosId);
        if (eot != NoToken) _eog.Add(eot);
        if (eom != NoToken) _eog.Add(eom);

        // o200k_harmony / solar-open: "<|end|>" is not end-of-generation when "<|return|>"+"<|call|>" (or "<|calls|>"+"<|flush|>") exist.
        {
            bool Has(string t) => _eog.Any(id => tokens[id] == t);
            int end = _eog.FirstOrDefault(id => tokens[id] == "<|end|>", NoToken);
            if (end != NoToken && ((Has("<|return|>") && (Has("<|call|>") || Has("<|calls|>"))) || ((Has("<|call|>") || Has("<|calls|>")) && Has("<|flush|>"))))
            {
                _eog.Remove(end);
                attrs[end] = TokenAttributes.UserDefined;
            }
            int s = _eog.FirstOrDefault(id => tokens[id] == "</s>", NoToken);
            if (s != NoToken && Has("<|tool_response>"))
            {
                _eog.Remove(s);
                attrs[s] = TokenAttributes.Normal;
            }
        }
        Attributes = attrs;

        var special = new List<int>();
        for (int id = 0; id < n; id++)
            if ((attrs[id] & (TokenAttributes.Control | TokenAttributes.UserDefined | TokenAttributes.Unknown)) != 0) special.Add(id);
        // llama.cpp sorts by UTF-8 length, longest first (std::sort, unstable); ties keep id order here.
        SpecialTokens = special.OrderByDescending(id => Encoding.UTF8.GetByteCount(tokens[id])).ToArray();

        _pieces = new byte[n][];
        for (int id = 0; id < n; id++) _pieces[id] = BuildPiece(id);
        LongestTokenBytes = Enumerable.Range(0, n).Max(InputBytes);
        SpellsEveryByte = Enumerable.Range(0, 256).All(b => Type == VocabularyType.SentencePiece
            ? ByteToToken((byte)b) != NoToken || UnkId != NoToken
            : TextToToken([ByteUnicodeMap.ToChar((byte)b)]) != NoToken);
        StripsWhitespace = SpecialTokens.Any(id => (attrs[id] & (TokenAttributes.LStrip | TokenAttributes.RStrip)) != 0);

        LinefeedId = Type == VocabularyType.SentencePiece ? ByteToToken((byte)'\n') : NoToken;
    }

    /// <summary>The id of the token whose text is exactly <paramref name="text"/>, or <see cref="NoToken"/>.</summary>
    public int TextToToken(ReadOnlySpan<char> text) => _textToIdSpan.TryGetValue(text, out int id) ? id : NoToken;

    /// <summary>BPE merge rank of (left, right), or -1 when they do not merge.</summary>
    public int MergeRank(ReadOnlySpan<char> left, ReadOnlySpan<char> right)
    {
        int len = left.Length + 1 + right.Length;
        Span<char> key = len <= 256 ? stackalloc char[len] : new char[len];
        left.CopyTo(key);
        key[left.Length] = ' ';
        right.CopyTo(key[(left.Length + 1)..]);
        return _mergeRanksSpan.TryGetValue(key, out int rank) ? rank : -1;
    }

    /// <summary>SentencePiece byte-fallback token for a byte: "&lt;0xXX&gt;", else the one-byte text (llama.cpp's byte_to_token).</summary>
    public int ByteToToken(byte b)
    {
        Span<char> hex = ['<', '0', 'x', "0123456789ABCDEF"[b >> 4], "0123456789ABCDEF"[b & 15], '>'];
        int id = TextToToken(hex);
        if (id != NoToken) return id;
        return b < 0x80 ? TextToToken([(char)b]) : NoToken;
    }

    public bool IsEndOfGeneration(int id) => id != NoToken && _eog.Contains(id);

    /// <summary>
    /// The bytes of llama.cpp's token_to_piece(id, special: true): text of control/user-defined/unknown tokens
    /// as is, normal tokens decoded (SentencePiece U+2581 -> space; byte-level BPE through the GPT-2 byte map),
    /// byte tokens as their byte, anything else empty. The returned array is shared: do not modify it.
    /// </summary>
    public byte[] Piece(int id) => _pieces[id];

    /// <summary>token_to_piece with special: false renders unknown and control tokens as nothing.</summary>
    public bool IsHiddenUnlessSpecial(int id) => (Attributes[id] & (TokenAttributes.Unknown | TokenAttributes.Control)) != 0;

    /// <summary>
    /// The most input bytes token <paramref name="id"/> can stand for: its piece (special tokens: their UTF-8 text,
    /// which is what they are matched by), or the text merging spells it with — SentencePiece merges text whose
    /// spaces are U+2581 (3 bytes standing for 1), byte-level BPE text in the GPT-2 alphabet (a character per byte).
    /// Both count because a token of unused or undefined type has an empty piece yet can still be merged into.
    /// </summary>
    private int InputBytes(int id)
    {
        string text = Tokens[id];
        int merged = Type == VocabularyType.SentencePiece
            ? Encoding.UTF8.GetByteCount(text) - 2 * text.AsSpan().Count('\u2581')
            : text.Length;
        return Math.Max(merged, _pieces[id].Length);
    }

    private byte[] BuildPiece(int id)
    {
        string text = Tokens[id];
        var attr = Attributes[id];
        if ((attr & (TokenAttributes.Unknown | TokenAttributes.Control | TokenAttributes.UserDefined)) != 0)
            return Encoding.UTF8.GetBytes(text);
        if ((attr & TokenAttributes.Normal) != 0)
        {
            if (Type == VocabularyType.SentencePiece) return Encoding.UTF8.GetBytes(text.Replace('\u2581', ' '));
            return DecodeByteLevel(text);
        }
        if ((attr & TokenAttributes.Byte) != 0)
            return [byte.Parse(text.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture)];
        return [];
    }

    /// <summary>llama.cpp's llama_decode_text: each codepoint back to its byte; unmapped ones are spelled out.</summary>
    private static byte[] DecodeByteLevel(string text)
    {
        var bytes = new List<byte>(text.Length);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in text.EnumerateRunes())
        {
            if (ByteUnicodeMap.TryToByte(rune.Value, out byte b)) { bytes.Add(b); continue; }
            var sb = new StringBuilder("[UNK_BYTE_0x");
            int k = rune.EncodeToUtf8(utf8);
            for (int i = 0; i < k; i++) sb.Append(utf8[i].ToString("x2", CultureInfo.InvariantCulture));
            sb.Append(text).Append(']');
            bytes.AddRange(Encoding.UTF8.GetBytes(sb.ToString()));
        }
        return bytes.ToArray();
    }

    private static Dictionary<string, int> ReadMerges(GgufFile gguf)
    {
        string[] merges = gguf.GetArray<string>(Key + "merges")
            ?? throw new GgufFormatException($"{gguf.Path}: BPE tokenizer merges '{Key}merges' are missing");
        var ranks = new Dictionary<string, int>(merges.Length, StringComparer.Ordinal);
        for (int i = 0; i < merges.Length; i++)
        {
            // llama.cpp splits at the first space after the first character; the first occurrence keeps its rank.
            string m = merges[i];
            int sp = m.Length > 1 ? m.IndexOf(' ', 1) : -1;
            ranks.TryAdd(sp < 0 ? " " : m, i);
        }
        return ranks;
    }
}
