namespace Tandem.Engine.Tokenization;

/// <summary>
/// Llama 3's pre-tokenizer regex
/// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
/// as a hand-written scanner with exactly the behaviour of llama.cpp's unicode_regex_split_custom_llama3
/// (the reference, quirks included). Linear time.
/// </summary>
internal sealed class Llama3WordSplitter : WordSplitter
{
    public const string Pattern = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    public const string PatternCaseInsensitive = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    // No codepoint outside ASCII lower-cases to one of the contraction letters, so ASCII folding is exact here.
    private static int Lower(int c) => c is >= 'A' and <= 'Z' ? c + 32 : c;

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
                var flags = s.Flags(pos);

                if (cpt == '\'' && pos + 1 < end)
                {
                    int next = Lower(s.Cpt(pos + 1));
                    if (next is 's' or 't' or 'm' or 'd') { pos += s.AddToken(pos + 2); continue; }
                    if (pos + 2 < end)
                    {
                        int next2 = Lower(s.Cpt(pos + 2));
                        if ((next == 'r' && next2 == 'e') || (next == 'v' && next2 == 'e') || (next == 'l' && next2 == 'l'))
                        { pos += s.AddToken(pos + 3); continue; }
                    }
                }

                // [^\r\n\p{L}\p{N}]?\p{L}+
                if (!(cpt == '\r' || cpt == '\n' || flags.IsNumber))
                {
                    if (flags.IsLetter || s.Flags(pos + 1).IsLetter)
                    {
                        pos++;
                        while (s.Flags(pos).IsLetter) pos++;
                        s.AddToken(pos);
                        continue;
                    }
                }

                // \p{N}{1,3}
                if (flags.IsNumber)
                {
                    int ini = pos;
                    while (s.Flags(pos).IsNumber)
                    {
                        if (++pos - ini >= 3) { s.AddToken(pos); ini = pos; }
                    }
                    s.AddToken(pos);
                    continue;
                }

                //  ?[^\s\p{L}\p{N}]+[\r\n]*  (llama.cpp tests the current codepoint's "defined" flag here, not the next one's)
                var f2 = cpt == ' ' ? s.Flags(pos + 1) : flags;
                if (!(f2.IsWhitespace || f2.IsLetter || f2.IsNumber) && flags.IsDefined)
                {
                    if (cpt == ' ') pos++;
                    while (f2.IsOtherThanSpaceLetterNumber) f2 = s.Flags(++pos);
                    int c2 = s.Cpt(pos);
                    while (c2 is '\r' or '\n') c2 = s.Cpt(++pos);
                    s.AddToken(pos);
                    continue;
                }

                int ws = 0, lastEndRn = 0;
                while (s.Flags(pos + ws).IsWhitespace)
                {
                    int c2 = s.Cpt(pos + ws);
                    if (c2 is '\r' or '\n') lastEndRn = pos + ws + 1;
                    ws++;
                }
                if (lastEndRn > 0) { pos = lastEndRn; s.AddToken(pos); continue; }             // \s*[\r\n]+
                if (ws > 1 && s.InRange(pos + ws)) { pos += ws - 1; s.AddToken(pos); continue; } // \s+(?!\S)
                if (ws > 0) { pos += ws; s.AddToken(pos); continue; }                            // \s+
                s.AddToken(++pos);
            }
        }
    }
}
