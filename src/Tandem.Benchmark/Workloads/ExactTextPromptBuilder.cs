using Tandem.Engine.Gguf;
using Tandem.Engine.Tokenization;

namespace Tandem.Benchmark.Workloads;

/// <summary>
/// Builds text prompts whose encoding with a model's own tokenizer (Tandem.Engine's, which matches llama.cpp's) has
/// exactly the requested number of tokens, BOS not counted: the server then prefills exactly the intended length
/// while still receiving text (so chat endpoints and servers that refuse token-id prompts work too).
/// <para>
/// Method: random common words (<see cref="PromptBuilder"/>'s list) are joined with spaces until the text encodes to
/// at least the target; a binary search over the number of words keeps the longest prefix of whole words that encodes
/// to at most the target; then words that this vocabulary encodes as one token after a space are appended one at a
/// time, each kept only if it adds exactly one token. Whole words are cut, never tokens, so no piece of a word is left
/// to re-merge differently; the finished text is encoded once more and must have exactly the target length.
/// </para>
/// </summary>
public sealed class ExactTextPromptBuilder
{
    private const int PadAttempts = 64;

    private readonly Tokenizer _tokenizer;
    private readonly string[] _singleTokenWords;

    public ExactTextPromptBuilder(Tokenizer tokenizer)
    {
        _tokenizer = tokenizer;
        // "the" first so that the word tested always follows a space, as it will in a prompt.
        int baseCount = Count("the");
        _singleTokenWords = PromptBuilder.Words.Where(w => Count("the " + w) == baseCount + 1).ToArray();
        if (_singleTokenWords.Length == 0)
            throw new ArgumentException("this tokenizer encodes none of the filler words as a single token: exact-length text prompts are not possible with it");
    }

    /// <summary>Loads the tokenizer of a GGUF file (a model, or a vocabulary-only file).</summary>
    public static ExactTextPromptBuilder FromGguf(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer file not found: {path}", path);
        // The vocabulary is copied out of the file, so the mapping can close once the tokenizer is built.
        using var gguf = GgufFile.Open(path);
        return new ExactTextPromptBuilder(Tokenizer.FromGguf(gguf));
    }

    public Tokenizer Tokenizer => _tokenizer;

    /// <summary>Tokens in <paramref name="text"/> as the server would count a prompt, without BOS.</summary>
    public int Count(string text) => _tokenizer.Encode(text, addBos: false).Length;

    /// <summary>A prompt of random words that encodes to exactly <paramref name="tokens"/> tokens (without BOS).</summary>
    public string Text(Random rng, int tokens)
    {
        if (tokens < 1) throw new ArgumentOutOfRangeException(nameof(tokens), $"a prompt needs at least one token, got {tokens}");
        var words = new List<string>(tokens + 8);
        // Every word is at least one token, so `tokens` words reach the target; add more while the count falls short.
        int missing = tokens;
        while (missing > 0)
        {
            for (int i = 0; i < missing; i++) words.Add(PromptBuilder.Words[rng.Next(PromptBuilder.Words.Length)]);
            missing = tokens - Count(string.Join(' ', words));
        }

        // Longest prefix of whole words with at most `tokens` tokens (the count grows with the number of words).
        int lo = 0, hi = words.Count;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (Count(string.Join(' ', words.Take(mid))) <= tokens) lo = mid;
            else hi = mid - 1;
        }
        var text = new System.Text.StringBuilder(string.Join(' ', words.Take(lo)));
        int count = lo == 0 ? 0 : Count(text.ToString());

        for (int attempt = 0; count < tokens && attempt < PadAttempts; attempt++)
        {
            string word = _singleTokenWords[rng.Next(_singleTokenWords.Length)];
            string candidate = text.Length == 0 ? word : text.ToString() + " " + word;
            int c = Count(candidate);
            if (c != count + 1) continue;
            text.Clear().Append(candidate);
            count = c;
        }
        string prompt = text.ToString();
        int final = Count(prompt);
        if (final != tokens)
            throw new InvalidOperationException($"could not build a prompt of exactly {tokens} tokens with this tokenizer (got {final})");
        return prompt;
    }
}
