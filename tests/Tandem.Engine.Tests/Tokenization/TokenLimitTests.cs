using System.Text;
using Tandem.Engine.Gguf;
using Tandem.Engine.Tokenization;

namespace Tandem.Engine.Tests.Tokenization;

/// <summary>
/// <see cref="Tokenizer.EncodeAtMost"/>: exactly <see cref="Tokenizer.Encode"/> when the ids fit, null as soon as they
/// do not; and <see cref="Tokenizer.MinimumTokens(string, bool)"/> never above the real count, so a text refused
/// from its length alone could never have fit.
/// </summary>
public class TokenLimitTests
{
    public static TheoryData<string> Vocabularies => new()
    {
        "vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt-2.gguf", "vocab/ggml-vocab-deepseek-llm.gguf",
        "stories260K.gguf", "tinyllama-v0-q4_0.gguf",
    };

    private static Tokenizer Load(string file)
    {
        using var gguf = GgufFile.Open(TestPaths.Model(file));
        return Tokenizer.FromGguf(gguf);
    }

    /// <summary>llama.cpp's test inputs (every script, whitespace run, emoji, number...), alone and joined around special tokens.</summary>
    private static IEnumerable<string> Texts(Tokenizer tok)
    {
        var inputs = VocabTestVectorTests.ReadVectors("ggml-vocab-llama-spm.gguf").Select(v => v.Input).ToList();
        string special = tok.Vocabulary.Tokens[tok.Vocabulary.SpecialTokens[0]];
        foreach (string input in inputs)
        {
            yield return input;
            yield return input + special + input + " " + special;
        }
        yield return string.Concat(inputs);
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void Within_the_limit_the_ids_are_encodes_and_one_token_under_it_is_null(string file)
    {
        var tok = Load(file);
        var failures = new List<string>();
        foreach (string text in Texts(tok))
        {
            foreach (bool addBos in new[] { false, true })
            {
                foreach (bool parseSpecial in new[] { false, true })
                {
                    int[] ids = tok.Encode(text, addBos, parseSpecial);
                    if (tok.MinimumTokens(text, addBos) > ids.Length)
                        failures.Add($"'{text}': lower bound {tok.MinimumTokens(text, addBos)} above the {ids.Length} ids");
                    if (tok.EncodeAtMost(text, addBos, parseSpecial, ids.Length) is not { } exact || !exact.SequenceEqual(ids))
                        failures.Add($"'{text}' (bos {addBos}, special {parseSpecial}): not Encode's ids at a limit of {ids.Length}");
                    if (ids.Length > 0 && tok.EncodeAtMost(text, addBos, parseSpecial, ids.Length - 1) is not null)
                        failures.Add($"'{text}' (bos {addBos}, special {parseSpecial}): {ids.Length} ids accepted at a limit of {ids.Length - 1}");
                }
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    /// <summary>The bound is tight enough to matter: the longest token of a real vocabulary spans a few dozen bytes at most.</summary>
    [Theory]
    [InlineData("vocab/ggml-vocab-llama-spm.gguf")]
    [InlineData("vocab/ggml-vocab-gpt-2.gguf")]
    [InlineData("stories260K.gguf")]
    public void The_longest_token_is_what_the_pieces_say(string file)
    {
        var vocab = Load(file).Vocabulary;
        Assert.True(vocab.SpellsEveryByte);
        Assert.False(vocab.StripsWhitespace);
        int longestPiece = Enumerable.Range(0, vocab.Count).Max(id => vocab.Piece(id).Length);
        Assert.InRange(vocab.LongestTokenBytes, longestPiece, 128);
    }

    /// <summary>
    /// 8 MB of text against a 2,048-token limit is refused from its length: no tokenizing, so (measured on this
    /// thread) almost nothing is allocated, where encoding it allocates hundreds of megabytes.
    /// </summary>
    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void Huge_text_is_refused_without_being_tokenized(string file)
    {
        var tok = Load(file);
        var text = new StringBuilder(8_000_064);
        while (text.Length < 8_000_000) text.Append("Once upon a time, there was a little girl named Lily. ");
        string huge = text.ToString();

        long before = GC.GetAllocatedBytesForCurrentThread();
        int[]? ids = tok.EncodeAtMost(huge, addBos: true, parseSpecial: true, maxTokens: 2048);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Null(ids);
        Assert.True(allocated < 64 << 10, $"{allocated} bytes allocated to refuse {huge.Length} characters");
    }
}
