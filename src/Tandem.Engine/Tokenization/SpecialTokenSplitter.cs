namespace Tandem.Engine.Tokenization;

/// <summary>
/// llama.cpp's tokenizer_st_partition: for each special token, longest text first, every occurrence in the
/// raw-text fragments is cut out as that token. Without parse_special, control and unknown tokens are skipped
/// (their text stays plain text) but user-defined tokens are still matched.
/// </summary>
internal static class SpecialTokenSplitter
{
    public static List<TextFragment> Split(Vocabulary vocab, string text, bool parseSpecial)
    {
        var fragments = new List<TextFragment>();
        if (text.Length == 0) return fragments;
        fragments.Add(TextFragment.Text(0, text.Length));

        var next = new List<TextFragment>();
        foreach (int id in vocab.SpecialTokens)
        {
            var attr = vocab.Attributes[id];
            if (!parseSpecial && (attr & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0) continue;
            string tokenText = vocab.Tokens[id];
            if (text.IndexOf(tokenText, StringComparison.Ordinal) < 0) continue; // cheap reject for the common case

            next.Clear();
            foreach (var f in fragments)
            {
                if (f.IsToken) { next.Add(f); continue; }
                int offset = f.Offset, length = f.Length;
                while (length > 0)
                {
                    int match = text.IndexOf(tokenText, offset, length, StringComparison.Ordinal);
                    if (match < 0) { next.Add(TextFragment.Text(offset, length)); break; }

                    int leftLength = match - offset;
                    if ((attr & TokenAttributes.LStrip) != 0)
                        while (leftLength > 0 && IsCSpace(text[offset + leftLength - 1])) leftLength--;
                    if (leftLength > 0) next.Add(TextFragment.Text(offset, leftLength));
                    next.Add(TextFragment.Special(id));

                    int rightOffset = match + tokenText.Length;
                    int rightLength = offset + length - rightOffset;
                    if ((attr & TokenAttributes.RStrip) != 0)
                        while (rightLength > 0 && IsCSpace(text[rightOffset])) { rightOffset++; rightLength--; }
                    offset = rightOffset;
                    length = rightLength;
                }
            }
            (fragments, next) = (next, fragments);
        }
        return fragments;
    }

    private static bool IsCSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';
}
