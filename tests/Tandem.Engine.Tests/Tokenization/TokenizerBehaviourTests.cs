using System.Text;
using Tandem.Engine.Gguf;
using Tandem.Engine.Tokenization;

namespace Tandem.Engine.Tests.Tokenization;

public class TokenizerBehaviourTests
{
    private static Tokenizer Load(string path)
    {
        using var gguf = GgufFile.Open(path);
        return Tokenizer.FromGguf(gguf); // the tokenizer copies what it needs; the file may close
    }

    [Theory]
    // prompt ids llama.cpp (through LLamaSharp 0.30.0) produced with BOS added (shared/models/README.md)
    [InlineData("stories260K.gguf", "Once upon a time", new[] { 1, 403, 407, 261, 378 })]
    [InlineData("stories260K.gguf", "Lily and Ben went to the park", new[] { 1, 317, 269, 368, 302, 263, 377, 267, 265, 282, 295, 433 })]
    [InlineData("tinyllama-v0-q4_0.gguf", "Once upon a time", new[] { 1, 4612, 2619, 260, 647 })]
    [InlineData("tinyllama-v0-q4_0.gguf", "Lily and Ben went to the park", new[] { 1, 21075, 291, 3093, 2070, 289, 266, 3653 })]
    [InlineData("llama2-tiny-random-f16.gguf", "Once upon a time", new[] { 1, 9038, 2501, 263, 931 })]
    public void ModelPromptIdsMatchLlamaCpp(string model, string prompt, int[] expected)
    {
        var tok = Load(TestPaths.Model(model));
        Assert.Equal(expected, tok.Encode(prompt, addBos: true));
        Assert.Equal(expected[1..], tok.Encode(prompt, addBos: false));
        // llama_detokenize keeps the space of "▁Once" after a BOS and drops it when the first token is text
        Assert.Equal(" " + prompt, tok.Decode(expected));
        Assert.Equal(prompt, tok.Decode(expected.AsSpan(1)));
    }

    [Fact]
    public void GeneratedTextOfReferenceRunDecodes()
    {
        var tok = Load(TestPaths.Model("stories260K.gguf"));
        int[] ids = [432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394];
        var stream = new StreamingDecoder(tok);
        var sb = new StringBuilder();
        foreach (int id in new[] { 1, 403, 407, 261, 378 }) sb.Append(stream.Add(id));
        foreach (int id in ids) sb.Append(stream.Add(id));
        sb.Append(stream.Flush());
        Assert.Equal(" Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw", sb.ToString());
    }

    [Fact]
    public void SpecialTokenQueries()
    {
        var spm = Load(TestPaths.Model("stories260K.gguf"));
        Assert.Equal(512, spm.VocabSize);
        Assert.Equal(1, spm.BosId);
        Assert.Equal(2, spm.EosId);
        Assert.True(spm.IsEndOfGeneration(2));
        Assert.False(spm.IsEndOfGeneration(1));
        Assert.False(spm.IsEndOfGeneration(403));
        Assert.Equal("▁Once", spm.TokenText(403));
        Assert.Equal(" Once"u8.ToArray(), spm.TokenBytes(403));

        var gpt2 = Load(TestPaths.Vocab("ggml-vocab-gpt-2.gguf"));
        int eot = gpt2.Vocabulary.TextToToken("<|endoftext|>");
        Assert.Equal(50256, eot);
        Assert.True(gpt2.IsEndOfGeneration(eot));
        Assert.Equal(eot, gpt2.EotId);
        Assert.Equal("Ġworld", gpt2.TokenText(995));
        Assert.Equal(" world"u8.ToArray(), gpt2.TokenBytes(995));
    }

    [Fact]
    public void ParseSpecialMatchesControlTokenTextOnlyWhenAsked()
    {
        var gpt2 = Load(TestPaths.Vocab("ggml-vocab-gpt-2.gguf"));
        const string text = "Hello<|endoftext|> world";
        int[] parsed = gpt2.Encode(text, addBos: false, parseSpecial: true);
        Assert.Equal([15496, 50256, 995], parsed);
        int[] plain = gpt2.Encode(text, addBos: false, parseSpecial: false);
        Assert.DoesNotContain(50256, plain);
        Assert.Equal(text, gpt2.Decode(plain));
        Assert.Equal("Hello world", gpt2.Decode(parsed));
        Assert.Equal(text, gpt2.Decode(parsed, renderSpecial: true));

        var spm = Load(TestPaths.Model("tinyllama-v0-q4_0.gguf"));
        // after a special token SentencePiece adds the space prefix again
        int[] ids = spm.Encode("Hi</s>Hi", addBos: true, parseSpecial: true);
        int hi = spm.Encode("Hi", addBos: false)[0];
        Assert.Equal([1, hi, 2, hi], ids);
        Assert.DoesNotContain(2, spm.Encode("Hi</s>Hi", addBos: true, parseSpecial: false));
    }

    [Fact]
    public void StreamingDecoderHoldsBackSplitMultibyteCharacters()
    {
        // stories260K has 512 pieces: Cyrillic, CJK and emoji become byte-fallback tokens <0xXX>.
        var tok = Load(TestPaths.Model("stories260K.gguf"));
        const string text = "Привет, 世界 🦙!";
        int[] ids = tok.Encode(text, addBos: false);
        Assert.True(ids.Count(id => (tok.Vocabulary.Attributes[id] & TokenAttributes.Byte) != 0) >= Encoding.UTF8.GetByteCount("Привет世界🦙"));

        var stream = new StreamingDecoder(tok);
        var pieces = ids.Select(stream.Add).ToList();
        pieces.Add(stream.Flush());
        // Streamed as a continuation, the first piece keeps the space SentencePiece put before the text;
        // whole-text Decode drops it, as llama_detokenize does.
        Assert.Equal(" " + text, string.Concat(pieces));
        Assert.Equal(text, tok.Decode(ids));
        Assert.All(pieces, p => Assert.DoesNotContain('\uFFFD', p));
        Assert.Contains("", pieces.Take(ids.Length)); // a partial sequence produced nothing yet
        Assert.Contains(pieces, p => p == "🦙");        // four byte tokens, one character, emitted once complete
    }

    [Fact]
    public void StreamingDecoderReplacesBytesThatNeverFormACharacter()
    {
        var tok = Load(TestPaths.Model("stories260K.gguf"));
        int b0 = tok.Vocabulary.ByteToToken(0xF0), b1 = tok.Vocabulary.ByteToToken(0x9F);
        int a = tok.Encode("a", addBos: false)[^1];
        var stream = new StreamingDecoder(tok);
        Assert.Equal("", stream.Add(b0));
        Assert.Equal("", stream.Add(b1));
        string s = stream.Add(a) + stream.Flush();
        Assert.Equal(tok.Decode([b0, b1, a]), s);
        Assert.EndsWith("a", s);
        Assert.Contains('\uFFFD', s);
    }

    [Theory]
    [InlineData("ggml-vocab-llama-spm.gguf")]
    [InlineData("ggml-vocab-gpt-2.gguf")]
    [InlineData("ggml-vocab-deepseek-llm.gguf")]
    public void LongInputEncodesWithoutQuadraticBlowUp(string vocabFile)
    {
        var tok = Load(TestPaths.Vocab(vocabFile));
        var sb = new StringBuilder();
        var rng = new Random(1234);
        string[] words = ["the", "quick", "brown", "fox", "Привет", "世界", "🦙", "3333", "don't", "\n\n", "  ", "!!", "naïve", "x"];
        while (sb.Length < 100_000) sb.Append(words[rng.Next(words.Length)]).Append(rng.Next(4) == 0 ? "" : " ");
        string text = sb.ToString();
        int[] ids = tok.Encode(text, addBos: false);
        Assert.True(ids.Length > 10_000);
        if (!tok.Vocabulary.CleanSpaces) Assert.Equal(text, tok.Decode(ids));

        // one 100 KB "word": a single pre-token / symbol chain
        string word = new('a', 100_000);
        int[] wordIds = tok.Encode(word, addBos: false);
        Assert.Equal(word, tok.Decode(wordIds));
    }

    [Fact]
    public void UnknownTokenizerModelIsRefusedByName()
    {
        string dir = TestPaths.NewTempDir();
        string path = GgufTokenizerFileWriter.Write(dir, "bert", ["[PAD]", "[UNK]", "hello"]);
        using var gguf = GgufFile.Open(path);
        var e = Assert.Throws<NotSupportedException>(() => Tokenizer.FromGguf(gguf));
        Assert.Contains("'bert'", e.Message);
    }

    [Fact]
    public void UnknownPreTokenizerIsRefusedByName()
    {
        var e = Assert.Throws<NotSupportedException>(() => PreTokenizer.ForName("no-such-pre"));
        Assert.Contains("'no-such-pre'", e.Message);
    }
}
