using System.Text;
using LLama.Native;
using Tandem.Engine.Gguf;
using Tandem.Engine.Tokenization;

namespace Tandem.Engine.Tests.Tokenization;

/// <summary>
/// Random text full of Unicode edge cases (categories, whitespace kinds, contractions, digits of all scripts,
/// astral letters, unassigned and control codepoints) tokenized by llama.cpp itself (through LLamaSharp's
/// native library, vocabulary only) and by Tandem: the ids and every token's piece must agree.
/// </summary>
public class LlamaCppOracleTests
{
    private static readonly string[] s_atoms =
    [
        "a", "Z", "hello", "World", " ", "  ", "\t", "\n", "\r\n", "\r", "\u00A0", "\u3000", "\u2028", "\u0085", "\u000B", "\u001C",
        "'s", "'S", "'ll", "'LL", "'re", "'ve", "'m", "'d", "'t", "'", "’", "0", "123", "45678", "٣", "²", "½", "Ⅻ", "〇",
        "~", "^", "`", "$", "+", "<=>", "|", "!?", "...", ",", "-", "_", "(", ")", "{}", "[]", "@", "#", "%", "&", "*", "/", "\\",
        "€", "©", "✅", "🦙", "😶‍🌫️", "🚀", "𐐀𐐨", "𝔘", "Привет", "Ελλάδα", "中文字", "한국어", "日本語", "हिन्दी", "العربية", "ไทย",
        "ǅ", "ʰ", "µ", "ß", "Ω", "K", "ﬁ", "Ａｂ", "！", "。", "、", "“", "”", "\u0301", "e\u0301", "\u0378", "\u0001", "\u0080",
        "\uE000", "\u200D", "\uFEFF", "\uFFFD", "<s>", "</s>", "<|endoftext|>", "<unk>", "▁",
    ];

    public static TheoryData<string> VocabFiles => new() { "ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-deepseek-llm.gguf" };

    private static int[] LlamaTokenize(SafeLlamaModelHandle model, string text, bool addSpecial, bool parseSpecial)
    {
        var tokens = model.Tokenize(text, addSpecial, parseSpecial, Encoding.UTF8);
        var ids = new int[tokens.Length];
        for (int i = 0; i < ids.Length; i++) ids[i] = (int)tokens[i];
        return ids;
    }

    [Theory]
    [MemberData(nameof(VocabFiles))]
    public void RandomUnicodeTextTokenizesAsLlamaCppDoes(string vocabFile)
    {
        string path = TestPaths.Vocab(vocabFile);
        NativeApi.llama_empty_call(); // runs LLamaSharp's native library resolver before the first P/Invoke
        var p = LLamaModelParams.Default();
        p.vocab_only = true;
        using var model = SafeLlamaModelHandle.LoadFromFile(path, p);
        using var gguf = GgufFile.Open(path);
        var tok = Tokenizer.FromGguf(gguf);

        static int Id(LLamaToken? t) => t is LLamaToken v ? (int)v : -1;
        Assert.Equal(Id(model.Vocab.BOS), tok.BosId);
        Assert.Equal(Id(model.Vocab.EOS), tok.EosId);
        Assert.Equal(Id(model.Vocab.EOT), tok.EotId);
        Assert.Equal(model.Vocab.Count, tok.VocabSize);

        // every token's piece (token_to_piece with special = true, no lstrip)
        var buf = new byte[1024];
        for (int id = 0; id < tok.VocabSize; id++)
        {
            int n = (int)model.TokenToSpan(id, buf, 0, true);
            Assert.True(buf.AsSpan(0, n).SequenceEqual(tok.TokenBytes(id)), $"piece of token {id} '{tok.TokenText(id)}'");
        }

        var rng = new Random(20240607);
        var failures = new List<string>();
        for (int iter = 0; iter < 1500 && failures.Count < 10; iter++)
        {
            var sb = new StringBuilder();
            int parts = rng.Next(1, 12);
            for (int k = 0; k < parts; k++) sb.Append(s_atoms[rng.Next(s_atoms.Length)]);
            string text = sb.ToString();
            bool parseSpecial = (iter & 1) == 1, addSpecial = (iter & 2) == 2;
            int[] expected = LlamaTokenize(model, text, addSpecial, parseSpecial);
            int[] got = tok.Encode(text, addSpecial, parseSpecial);
            if (!expected.SequenceEqual(got))
                failures.Add($"{Escape(text)} special={parseSpecial}: llama.cpp [{string.Join(' ', expected)}] tandem [{string.Join(' ', got)}]");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static string Escape(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in s) sb.Append(c < 0x20 || c > 0x7E ? $"\\u{(int)c:X4}" : c.ToString());
        return sb.Append('"').ToString();
    }
}
