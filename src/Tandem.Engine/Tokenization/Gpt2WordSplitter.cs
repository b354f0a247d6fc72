namespace Tandem.Engine.Tokenization;

/// <summary>
/// GPT-2's pre-tokenizer regex  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
/// as a hand-written scanner with exactly the behaviour of llama.cpp's unicode_regex_split_custom_gpt2
/// (which llama.cpp uses instead of a regex engine; its results are the reference, quirks included).
/// Linear time.
/// </summary>
internal sealed class Gpt2WordSplitter : WordSplitter
{
    public const string Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

    public override void Split(SplitText text, List<int> chunks, List<int> result)
    {
        int[] cps = text.Codepoints;
        int start = 0;
        foreach (int len in chunks)
        {
            var s = new ChunkScanner(cps, start, start + len, result);
            start += len;
            int end = s.End;
            for (int pos = s.Begin; pos < end;)
            {
                int cpt = s.Cpt(pos);
                if (cpt == '\'' && pos + 1 < end)
                {
                    int next = s.Cpt(pos + 1);
                    if (next is 's' or 't' or 'm' or 'd') { pos += s.AddToken(pos + 2); continue; }
                    if (pos + 2 < end)
                    {
                        int next2 = s.Cpt(pos + 2);
                        if ((next == 'r' && next2 == 'e') || (next == 'v' && next2 == 'e') || (next == 'l' && next2 == 'l'))
                        { pos += s.AddToken(pos + 3); continue; }
                    }
                }

                var f2 = cpt == ' ' ? s.Flags(pos + 1) : s.Flags(pos);
                if (f2.IsLetter)
                {
                    if (cpt == ' ') pos++;
                    while (f2.IsLetter) f2 = s.Flags(++pos);
                    s.AddToken(pos);
                    continue;
                }
                if (f2.IsNumber)
                {
                    if (cpt == ' ') pos++;
                    while (f2.IsNumber) f2 = s.Flags(++pos);
                    s.AddToken(pos);
                    continue;
                }
                if (f2.IsOtherThanSpaceLetterNumber)
                {
                    if (cpt == ' ') pos++;
                    while (f2.IsOtherThanSpaceLetterNumber) f2 = s.Flags(++pos);
                    s.AddToken(pos);
                    continue;
                }

                int ws = 0;
                while (s.Flags(pos + ws).IsWhitespace) ws++;
                if (ws > 1 && s.InRange(pos + ws)) { pos += ws - 1; s.AddToken(pos); continue; } // \s+(?!\S)
                if (ws > 0) { pos += ws; s.AddToken(pos); continue; }                             // \s+
                s.AddToken(++pos);
            }
        }
    }
}
