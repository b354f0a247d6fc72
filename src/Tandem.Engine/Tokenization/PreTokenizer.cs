namespace Tandem.Engine.Tokenization;

/// <summary>
/// The byte-level BPE pre-tokenizer selected by GGUF tokenizer.ggml.pre, with the vocabulary flags llama.cpp
/// ties to it (llama-vocab.cpp: the tokenizer_pre -> pre_type table and llm_tokenizer_bpe's regex lists).
/// </summary>
internal sealed class PreTokenizer
{
    private const string Gpt2 = Gpt2WordSplitter.Pattern;
    private const string Llama3 = Llama3WordSplitter.Pattern;
    private const string Smollm = @"\p{N}";
    private const string Qwen2 = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    private const string Bloom = " ?[^(\\s|.,!?…。，、।۔،)]+";
    // Written with \u escapes where the characters have canonical equivalents (U+1F7D, U+1FBE, U+1FD3, U+1FDB,
    // U+2126, U+212A): a Unicode normalization of this file must not change the ranges.
    private const string DeepseekLetters = "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u1F7Dᾀ-ᾴᾶ-ᾼ\u1FBEῂ-ῄῆ-ῌῐ-\u1FD3ῖ-\u1FDBῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212A-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+";
    private const string Tekken = @"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    private const string Gpt4o = @"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private readonly WordSplitter[] _stages;

    /// <summary>The llama.cpp pre-tokenizer type this name selects (e.g. "gpt2", "llama3", "qwen2").</summary>
    public string Kind { get; }
    public bool CleanSpaces { get; }
    public bool IgnoreMerges { get; }
    /// <summary>Overrides the BPE default add_bos = false before GGUF add_bos_token is applied.</summary>
    public bool AddBos { get; }
    /// <summary>glm4/chatglm-bpe: llama.cpp clears the default BOS id.</summary>
    public bool NoDefaultBos { get; }

    private PreTokenizer(string kind, string[] regexes, bool cleanSpaces = true, bool ignoreMerges = false, bool addBos = false, bool noDefaultBos = false)
    {
        Kind = kind;
        CleanSpaces = cleanSpaces;
        IgnoreMerges = ignoreMerges;
        AddBos = addBos;
        NoDefaultBos = noDefaultBos;
        _stages = Array.ConvertAll(regexes, Stage);
    }

    private static WordSplitter Stage(string regex) => regex switch
    {
        Gpt2 => new Gpt2WordSplitter(),
        Llama3 or Llama3WordSplitter.PatternCaseInsensitive => new Llama3WordSplitter(),
        _ => new RegexWordSplitter(regex),
    };

    /// <summary>
    /// The pre-tokenizer for a tokenizer.ggml.pre value (null or empty = llama.cpp's "default").
    /// Throws <see cref="NotSupportedException"/> naming the value when it is not one this engine implements.
    /// </summary>
    public static PreTokenizer ForName(string? name) => name switch
    {
        null or "" or "default" => new("default", [@"[\p{P}\$\+<=>\^~\|]+", Gpt2, @"\p{N}+", "[0-9][0-9][0-9]"]),
        "llama3" or "llama-v3" or "llama-bpe" or "falcon3" or "falcon-h1" or "pixtral" or "midm-2.0" or "lfm2" or "jina-v5-nano"
            => new("llama3", [Llama3], ignoreMerges: true, addBos: true),
        "dbrx" => new("dbrx", [Llama3]),
        "smaug-bpe" => new("smaug", [Llama3]),
        "glm4" or "chatglm-bpe" => new("chatglm4", [Llama3], noDefaultBos: true),
        "deepseek-llm" => new("deepseek-llm", ["[\r\n]", DeepseekLetters, "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", "[一-龥ࠀ-一가-퟿]+", @"\p{N}+"], cleanSpaces: false),
        "deepseek-coder" => new("deepseek-coder", ["[\r\n]", @"\s?\p{L}+", @"\s?\p{P}+", "[一-龥ࠀ-一가-퟿]+", @"\p{N}"], cleanSpaces: false),
        "falcon" => new("falcon", [@"[\p{P}\$\+<=>\^~\|`]+", Gpt2, "[0-9][0-9][0-9]"]),
        "starcoder" or "refact" or "codeshell" or "exaone" or "minerva-7b" or "mellum2" => new("starcoder", [Smollm, Gpt2]),
        "command-r" => new("command-r", [Smollm, Gpt2], cleanSpaces: false),
        "smollm" => new("smollm", [Smollm, Gpt2], cleanSpaces: false),
        // "gpt2" is not a name llama.cpp knows (it would refuse the file); accepted here as the obvious alias of "gpt-2".
        "gpt-2" or "gpt2" or "phi-2" or "jina-es" or "jina-de" or "gigachat" or "jina-v2-es" or "jina-v2-de" or "a.x-4.0"
            or "mellum" or "modern-bert" or "exaone4" or "mpt" or "olmo" or "jais"
            => new("gpt2", [Gpt2]),
        "qwen2" or "deepseek-r1-qwen" or "kormo" or "f2llmv2" => new("qwen2", [Qwen2], cleanSpaces: false),
        "megrez" or "stablelm2" => new("qwen2", [Qwen2]),
        "poro-chat" => new("poro", [Bloom], cleanSpaces: false),
        "bloom" or "gpt3-finnish" => new("bloom", [Bloom]),
        "viking" => new("viking", [Bloom, @"\p{N}"], cleanSpaces: false),
        "tekken" => new("tekken", [Tekken], cleanSpaces: false, ignoreMerges: true, addBos: true),
        "gpt-4o" or "llama4" or "kanana2" => new("gpt4o", [Gpt4o], cleanSpaces: false),
        _ => throw new NotSupportedException($"unsupported BPE pre-tokenizer type '{name}' (tokenizer.ggml.pre)"),
    };

    /// <summary>
    /// Splits <paramref name="text"/> into words, each returned GPT-2 byte-encoded (its UTF-8 bytes mapped
    /// through <see cref="ByteUnicodeMap"/>), as llama.cpp's unicode_regex_split returns them.
    /// </summary>
    public List<string> Split(string text)
    {
        var words = new List<string>();
        if (text.Length == 0) return words;
        int[] cps = UnicodeClass.Codepoints(text);
        var split = new SplitText(cps);
        var chunks = new List<int> { cps.Length };
        var next = new List<int>();
        foreach (var stage in _stages)
        {
            next.Clear();
            stage.Split(split, chunks, next);
            (chunks, next) = (next, chunks);
        }

        Span<byte> utf8 = stackalloc byte[4];
        var sb = new System.Text.StringBuilder();
        int at = 0;
        foreach (int len in chunks)
        {
            sb.Clear();
            for (int i = at; i < at + len; i++)
            {
                int n = new System.Text.Rune(cps[i]).EncodeToUtf8(utf8);
                for (int k = 0; k < n; k++) sb.Append(ByteUnicodeMap.ToChar(utf8[k]));
            }
            words.Add(sb.ToString());
            at += len;
        }
        return words;
    }
}
