using Tandem.Engine.Tokenization;

namespace Tandem.Server.Tokenization;

/// <summary>The text of token ids as a client would have written it: for echo of token-id prompts and for /detokenize.</summary>
internal static class PromptText
{
    /// <summary>
    /// Decodes <paramref name="ids"/> with a leading BOS left out: the BOS shows as nothing, but decoding through it
    /// would keep the first word's SentencePiece space, which the text the ids came from never had.
    /// </summary>
    public static string Decode(Tokenizer tokenizer, int[] ids) =>
        tokenizer.Decode(ids.Length > 0 && ids[0] == tokenizer.BosId ? ids.AsSpan(1) : ids);
}
