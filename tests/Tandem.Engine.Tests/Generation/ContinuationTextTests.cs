using System.Text;
using Tandem.Engine.Generation;
using Tandem.Engine.Gguf;
using Tandem.Engine.Model;
using Tandem.Engine.Sampling;
using Tandem.Engine.Tests.Oracle;
using Tandem.Engine.Tests.Tokenization;
using Tandem.Engine.Tokenization;

namespace Tandem.Engine.Tests.Generation;

/// <summary>
/// The text of a continuation is what llama.cpp's server streams: every generated token's token_to_piece, with no
/// lstrip, concatenated. In particular the first generated token keeps its leading space ("The cat sat" continues
/// " down", not "down"), which whole-text detokenization (llama_detokenize) would drop.
/// </summary>
public class ContinuationTextTests
{
    private const int MaxTokens = 24;

    [Theory]
    [InlineData("stories260K.gguf")]
    [InlineData("tinyllama-v0-q4_0.gguf")]
    [InlineData("llama2-tiny-random-f16.gguf")]
    public void Greedy_generation_text_is_llama_cpps_streamed_text(string file)
    {
        string path = TestPaths.Model(file);
        using var oracle = new LlamaCppOracle(path);
        using var model = LanguageModel.Load(path);
        var tokenizer = Tokenizer.FromGguf(model.File);
        using var transformer = new Transformer(model, threads: 1, maxBatch: 64, maxContext: 128);
        var generator = new TextGenerator(transformer, tokenizer);
        var options = new GenerationOptions { MaxTokens = MaxTokens, Sampling = SamplingParams.Greedy };

        int spaceFirst = 0;
        foreach (string prompt in ContinuationPrompts.All)
        {
            int[] ids = tokenizer.Encode(prompt, addBos: true);
            Assert.Equal(oracle.Tokenize(prompt, addBos: true), ids);
            var (expectedTokens, expected) = oracle.GreedyCompletion(ids, MaxTokens);

            var streamed = new StringBuilder();
            var result = generator.Generate(ids, options, t => streamed.Append(t.Text));

            Assert.Equal(expectedTokens.Where(t => !oracle.IsEndOfGeneration(t)), result.Tokens);
            Assert.Equal(expected, result.Text);
            Assert.Equal(expected, streamed.ToString());
            if (expected.StartsWith(' ')) spaceFirst++;
        }
        // The case that used to lose its space must be among those compared.
        Assert.True(spaceFirst > 0, "no continuation began with a space-prefixed piece");
    }

    /// <summary>GGUF file, and the vocabulary whose llama.cpp test inputs to tokenize with it.</summary>
    public static TheoryData<string, string> Vocabularies => new()
    {
        { TestPaths.Vocab("ggml-vocab-llama-spm.gguf"), "ggml-vocab-llama-spm.gguf" },
        { TestPaths.Vocab("ggml-vocab-gpt-2.gguf"), "ggml-vocab-gpt-2.gguf" },
        { TestPaths.Vocab("ggml-vocab-deepseek-llm.gguf"), "ggml-vocab-deepseek-llm.gguf" },
        { TestPaths.Model("stories260K.gguf"), "ggml-vocab-llama-spm.gguf" },
        { TestPaths.Model("tinyllama-v0-q4_0.gguf"), "ggml-vocab-llama-spm.gguf" },
    };

    public static TheoryData<string> VocabularyFiles => new(Vocabularies.Select(row => (string)row[0]));

    /// <summary>
    /// Tokens of llama.cpp's tokenizer test inputs, streamed as if generated, in one piece and token by token:
    /// the text is llama.cpp's pieces concatenated, whatever the vocabulary (SentencePiece or byte-level BPE).
    /// </summary>
    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void Streamed_test_vector_tokens_are_llama_cpps_pieces(string path, string inputsOf)
    {
        using var vocab = new LlamaCppVocabulary(path);
        using var gguf = GgufFile.Open(path);
        var tokenizer = Tokenizer.FromGguf(gguf);
        var inputs = VocabTestVectorTests.ReadVectors(inputsOf).Select(v => v.Input)
            .Concat(ContinuationPrompts.All.Select(p => " " + p));

        int spaceFirst = 0;
        foreach (string input in inputs)
        {
            int[] ids = tokenizer.Encode(input, addBos: false);
            Assert.Equal(vocab.Tokenize(input, addBos: false), ids);
            string expected = vocab.StreamedText(ids);
            Assert.Equal(expected, Stream(tokenizer, ids));
            if (expected.StartsWith(' ')) spaceFirst++;
        }
        Assert.True(spaceFirst > 0, "no input began with a space-prefixed piece");
    }

    /// <summary>
    /// Random runs of any tokens — byte tokens that split or never finish a character, control tokens that render
    /// as nothing, unknown and user-defined tokens — stream as llama.cpp's pieces concatenated and decoded once,
    /// invalid UTF-8 becoming U+FFFD exactly where it does there.
    /// </summary>
    [Theory]
    [MemberData(nameof(VocabularyFiles))]
    public void Streamed_random_tokens_are_llama_cpps_pieces(string path)
    {
        using var vocab = new LlamaCppVocabulary(path);
        using var gguf = GgufFile.Open(path);
        var tokenizer = Tokenizer.FromGguf(gguf);
        Assert.Equal(vocab.Count, tokenizer.VocabSize);
        // Byte tokens drawn often enough that multi-byte characters get split and completed.
        int[] byteTokens = Enumerable.Range(0, tokenizer.VocabSize)
            .Where(id => (tokenizer.Vocabulary.Attributes[id] & TokenAttributes.Byte) != 0).ToArray();

        var rng = new Random(8);
        for (int run = 0; run < 400; run++)
        {
            int[] ids = new int[rng.Next(1, 17)];
            for (int i = 0; i < ids.Length; i++)
                ids[i] = byteTokens.Length > 0 && rng.Next(2) == 0 ? byteTokens[rng.Next(byteTokens.Length)] : rng.Next(tokenizer.VocabSize);
            Assert.Equal(vocab.StreamedText(ids), Stream(tokenizer, ids));
        }
    }

    private static string Stream(Tokenizer tokenizer, int[] ids)
    {
        var decoder = new StreamingDecoder(tokenizer);
        var text = new StringBuilder();
        foreach (int id in ids) text.Append(decoder.Add(id));
        return text.Append(decoder.Flush()).ToString();
    }
}
