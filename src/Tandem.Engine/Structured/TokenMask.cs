namespace Tandem.Engine.Structured;

/// <summary>A set of allowed token ids as one bit per id, applied to logits: what every constraint's mask ends in.</summary>
internal static class TokenMask
{
    public static ulong[] NewBits(int vocabSize) => new ulong[(vocabSize + 63) >> 6];

    public static void Allow(ulong[] bits, int token) => bits[token >> 6] |= 1UL << token;

    public static bool IsAllowed(ulong[] bits, int token) => (bits[token >> 6] & (1UL << token)) != 0;

    /// <summary>
    /// Sets every logit whose bit is clear to negative infinity; rows past the tokenizer's <paramref name="vocabSize"/>
    /// (padded output layers) are never valid text and are refused too.
    /// </summary>
    public static void Apply(Span<float> logits, ulong[] allowed, int vocabSize)
    {
        int n = Math.Min(logits.Length, vocabSize);
        for (int w = 0, words = (n + 63) >> 6; w < words; w++)
        {
            ulong refused = ~allowed[w];
            int at = w << 6;
            if (refused == ulong.MaxValue)
            {
                logits.Slice(at, Math.Min(64, n - at)).Fill(float.NegativeInfinity);
                continue;
            }
            while (refused != 0)
            {
                int i = at + System.Numerics.BitOperations.TrailingZeroCount(refused);
                if (i >= n) break;
                logits[i] = float.NegativeInfinity;
                refused &= refused - 1;
            }
        }
        if (logits.Length > n) logits[n..].Fill(float.NegativeInfinity);
    }
}
