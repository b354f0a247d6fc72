using System.Runtime.CompilerServices;
using Tandem.Engine.Tokenization;

namespace Tandem.Serving.Scheduling;

/// <summary>
/// The text each token id last released to a client, kept as a string so that the next time the same token releases
/// the same text (nearly always: a token's text changes only beside a held-back stop string or a character split over
/// byte tokens) no string is made for it: a decode step then hands its tokens to their streams without allocating. One
/// per tokenizer, shared by every stream of a process; the loops that write it race benignly (a slot holds one whole
/// string or another, each right for the text it is compared with).
/// </summary>
internal sealed class TokenTextCache
{
    private static readonly ConditionalWeakTable<Tokenizer, TokenTextCache> PerTokenizer = [];
    private readonly string?[] _byToken;

    private TokenTextCache(int vocabSize) => _byToken = new string?[vocabSize];

    public static TokenTextCache For(Tokenizer tokenizer) =>
        PerTokenizer.GetValue(tokenizer, t => new TokenTextCache(t.Vocabulary.Count));

    /// <summary><paramref name="text"/> as a string: the one kept for <paramref name="tokenId"/> when it is the same text.</summary>
    public string Get(int tokenId, ReadOnlySpan<char> text)
    {
        if (text.IsEmpty) return "";
        if ((uint)tokenId >= (uint)_byToken.Length) return new string(text);
        var kept = Volatile.Read(ref _byToken[tokenId]);
        if (kept != null && text.SequenceEqual(kept)) return kept;
        string made = new(text);
        Volatile.Write(ref _byToken[tokenId], made);
        return made;
    }
}
