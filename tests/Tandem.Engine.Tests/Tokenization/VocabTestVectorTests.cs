using System.Text;
using Tandem.Engine.Gguf;
using Tandem.Engine.Tokenization;

namespace Tandem.Engine.Tests.Tokenization;

/// <summary>
/// llama.cpp's own tokenizer test vectors (tests/test-tokenizer-0.cpp): inputs separated by
/// "\n__ggml_vocab_test__\n", one line of expected ids per input, tokenized with add_special = false and
/// parse_special = false.
/// </summary>
public class VocabTestVectorTests
{
    public static TheoryData<string> VocabFiles => new() { "ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-deepseek-llm.gguf" };

    internal static List<(string Input, int[] Expected)> ReadVectors(string vocabFile)
    {
        string raw = Encoding.UTF8.GetString(File.ReadAllBytes(TestPaths.Vocab(vocabFile + ".inp")));
        const string sep = "\n__ggml_vocab_test__\n";
        var inputs = new List<string>();
        for (int pos = 0; pos < raw.Length;)
        {
            int next = raw.IndexOf(sep, pos, StringComparison.Ordinal);
            if (next < 0) { inputs.Add(raw[pos..]); break; }
            inputs.Add(raw[pos..next]);
            pos = next + sep.Length;
        }
        string[] outs = File.ReadAllLines(TestPaths.Vocab(vocabFile + ".out"));
        Assert.Equal(outs.Length, inputs.Count);
        return inputs.Select((s, i) => (s, outs[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray())).ToList();
    }

    [Theory]
    [MemberData(nameof(VocabFiles))]
    public void EveryTestVectorMatchesLlamaCpp(string vocabFile)
    {
        using var gguf = GgufFile.Open(TestPaths.Vocab(vocabFile));
        var tok = Tokenizer.FromGguf(gguf);
        var vectors = ReadVectors(vocabFile);
        Assert.True(vectors.Count > 30);
        var failures = new List<string>();
        foreach (var (input, expected) in vectors)
        {
            int[] got = tok.Encode(input, addBos: false, parseSpecial: false);
            if (!got.SequenceEqual(expected))
                failures.Add($"'{input}': expected [{string.Join(' ', expected)}] got [{string.Join(' ', got)}]");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [MemberData(nameof(VocabFiles))]
    public void DecodeInvertsEncodeWhereLlamaCppGuaranteesIt(string vocabFile)
    {
        using var gguf = GgufFile.Open(TestPaths.Vocab(vocabFile));
        var tok = Tokenizer.FromGguf(gguf);
        foreach (var (input, _) in ReadVectors(vocabFile))
        {
            // clean_spaces (gpt-2) deliberately rewrites " ?", " !", " .", " ," and spaces around apostrophes.
            if (tok.Vocabulary.CleanSpaces && (input.Contains(" ?") || input.Contains(" !") || input.Contains(" .") || input.Contains(" ,") || input.Contains(" '")))
                continue;
            Assert.Equal(input, tok.Decode(tok.Encode(input, addBos: false)));
        }
    }

    [Theory]
    [MemberData(nameof(VocabFiles))]
    public void EverySingleCodepointRoundTrips(string vocabFile)
    {
        // llama.cpp's test-tokenizer-1-{spm,bpe}: each codepoint alone survives tokenize + detokenize
        // (U+2581 excepted on SentencePiece, where it decodes to a space).
        using var gguf = GgufFile.Open(TestPaths.Vocab(vocabFile));
        var tok = Tokenizer.FromGguf(gguf);
        var failures = new List<string>();
        for (int cp = 0; cp <= 0x10FFFF; cp += cp < 0x10000 ? 1 : 13)
        {
            if (cp is >= 0xD800 and <= 0xDFFF || cp == 0x2581) continue;
            string s = char.ConvertFromUtf32(cp);
            string back = tok.Decode(tok.Encode(s, addBos: false, parseSpecial: false), renderSpecial: true);
            if (back != s && failures.Count < 20) failures.Add($"U+{cp:X4} -> '{back}'");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
