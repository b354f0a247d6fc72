using System.Text;

namespace Tandem.Benchmark.Workloads;

/// <summary>
/// Builds prompts of a given token length from random draws, so requests share no prefix (a prefix cache would
/// otherwise hide prefill cost). Text uses short common English words, each a single token in the usual BPE and
/// SentencePiece vocabularies when preceded by a space; token ids come from a range that is ordinary text in
/// common vocabularies (clear of control and byte tokens at the low end).
/// </summary>
public static class PromptBuilder
{
    public const int DefaultTokenIdMin = 1000;
    public const int DefaultTokenIdMax = 8000;

    internal static readonly string[] Words =
    [
        "the", "of", "and", "to", "in", "is", "it", "you", "that", "he", "was", "for", "on", "are", "as", "with",
        "his", "they", "at", "be", "this", "have", "from", "or", "one", "had", "by", "word", "but", "not", "what",
        "all", "were", "we", "when", "your", "can", "said", "there", "use", "an", "each", "which", "she", "do",
        "how", "their", "if", "will", "up", "other", "about", "out", "many", "then", "them", "these", "so", "some",
        "her", "would", "make", "like", "him", "into", "time", "has", "look", "two", "more", "write", "go", "see",
        "number", "no", "way", "could", "people", "my", "than", "first", "water", "been", "call", "who", "oil",
        "its", "now", "find", "long", "down", "day", "did", "get", "come", "made", "may", "part", "over", "new",
        "sound", "take", "only", "little", "work", "know", "place", "year", "live", "me", "back", "give", "most",
        "very", "after", "thing", "our", "just", "name", "good", "man", "think", "say", "great", "where", "help",
        "through", "much", "before", "line", "right", "too", "mean", "old", "any", "same", "tell", "boy", "follow",
        "came", "want", "show", "also", "around", "form", "three", "small", "set", "put", "end", "does", "another",
        "well", "large", "must", "big", "even", "such", "because", "turn", "here", "why", "ask", "went", "men",
        "read", "need", "land", "different", "home", "us", "move", "try", "kind", "hand", "picture", "again",
        "change", "off", "play", "spell", "air", "away", "animal", "house", "point", "page", "letter", "mother",
        "answer", "found", "study", "still", "learn", "should", "world", "high", "every", "near", "add", "food",
    ];

    public static string Text(Random rng, int tokens)
    {
        var sb = new StringBuilder(tokens * 6);
        for (int i = 0; i < tokens; i++)
        {
            if (i > 0) sb.Append(' ');
            sb.Append(Words[rng.Next(Words.Length)]);
        }
        return sb.ToString();
    }

    public static int[] TokenIds(Random rng, int tokens, int min = DefaultTokenIdMin, int max = DefaultTokenIdMax)
    {
        if (min < 0 || max <= min) throw new ArgumentException($"token id range must satisfy 0 <= min < max, got [{min}, {max})");
        var ids = new int[tokens];
        for (int i = 0; i < ids.Length; i++) ids[i] = rng.Next(min, max);
        return ids;
    }
}
