using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Tandem.Engine.Tokenization;

/// <summary>
/// A pre-tokenizer regex run the way llama.cpp's unicode_regex_split runs the ones it has no hand-written
/// scanner for: matches and the gaps between them both become chunks. A pattern using \p{N}/\p{L}/\p{P}/
/// \p{M}/\p{S} runs over the category-collapsed text (one stand-in char per category, see
/// <see cref="UnicodeClass.Collapsed"/>) with each \p{..} rewritten to [stand-in + its ASCII members], which
/// reproduces llama.cpp's class membership exactly (including its quirks, e.g. '~' is neither P nor S there).
/// Other patterns run over the real codepoints with non-ASCII whitespace turned into \v, as llama.cpp's
/// std::wregex path does. ECMAScript '$' (end of input) becomes \z.
/// </summary>
internal sealed class RegexWordSplitter : WordSplitter
{
    private static readonly string[] s_categoryNames = ["\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}", "\\p{Lu}", "\\p{Ll}", "\\p{Lt}", "\\p{Lm}", "\\p{Lo}"];

    private readonly Regex _regex;
    private readonly bool _collapsed;

    public string Source { get; }

    public RegexWordSplitter(string llamaPattern)
    {
        Source = llamaPattern;
        _collapsed = s_categoryNames.Any(llamaPattern.Contains);
        string pattern = _collapsed ? CollapsePattern(llamaPattern) : WidenPattern(llamaPattern);
        _regex = new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
    }

    public override void Split(SplitText text, List<int> chunks, List<int> result)
    {
        string input = _collapsed ? text.Collapsed : text.Wide;
        int start = 0;
        foreach (int len in chunks)
        {
            int begin = _collapsed ? start : text.WideIndex(start);
            int end = _collapsed ? start + len : text.WideIndex(start + len);
            int prev = start; // codepoint index where the next unmatched gap starts
            // Match(input, beginning, length) treats the slice as the whole input: anchors and lookarounds stop at
            // the chunk edges, as llama.cpp's regex_iterator over [chunk begin, chunk end) does.
            for (var m = _regex.Match(input, begin, end - begin); m.Success; m = m.NextMatch())
            {
                if (m.Length == 0) continue;
                int ms = _collapsed ? m.Index : text.CodepointIndexOfWide(m.Index);
                int me = _collapsed ? m.Index + m.Length : text.CodepointIndexOfWide(m.Index + m.Length);
                if (ms > prev) result.Add(ms - prev);
                result.Add(me - ms);
                prev = me;
            }
            if (prev < start + len) result.Add(start + len - prev);
            start += len;
        }
    }

    /// <summary>llama.cpp's regex_expr_collapsed, written for .NET (stand-ins as \u escapes, '$' as \z).</summary>
    private static string CollapsePattern(string p)
    {
        var sb = new StringBuilder(p.Length * 2);
        bool inside = false;
        for (int i = 0; i < p.Length; i++)
        {
            char c = p[i];
            if (c > 0x7F) throw new NotSupportedException($"pre-tokenizer regex mixes unicode categories and non-ASCII characters: {p}");
            if (c == '\\' && i + 1 < p.Length)
            {
                if (p[i + 1] == 'p' && i + 2 < p.Length && p[i + 2] == '{')
                {
                    int close = p.IndexOf('}', i + 3);
                    string? members = close < 0 ? null : CategoryMembers(p.Substring(i, close - i + 1));
                    if (members != null)
                    {
                        if (!inside) sb.Append('[');
                        sb.Append(members);
                        if (!inside) sb.Append(']');
                        i = close;
                        continue;
                    }
                }
                sb.Append(c).Append(p[i + 1]);
                i++;
                continue;
            }
            if (c == '[') inside = true;
            else if (c == ']' && inside) inside = false;
            else if (c == '$' && !inside) { sb.Append(@"\z"); continue; }
            sb.Append(c);
        }
        return sb.ToString();
    }

    private static string? CategoryMembers(string name) => name switch
    {
        "\\p{N}" => @"\u00D1\x30-\x39",
        "\\p{L}" or "\\p{Lu}" or "\\p{Ll}" or "\\p{Lt}" or "\\p{Lm}" or "\\p{Lo}" => @"\u00D2\x41-\x5A\x61-\x7A",
        "\\p{P}" => @"\u00D3\x21-\x23\x25-\x2A\x2C-\x2F\x3A-\x3B\x3F-\x40\x5B-\x5D\x5F\x7B\x7D",
        "\\p{M}" => @"\u00D4",
        "\\p{S}" => @"\u00D5\x24\x2B\x3C-\x3E\x5E\x60\x7C",
        _ => null,
    };

    /// <summary>
    /// The pattern for the UTF-16 "wide" text: '$' becomes \z, and a positive character class holding
    /// characters beyond U+FFFF becomes an alternation with their surrogate pairs (.NET classes see UTF-16 units;
    /// std::wregex on Linux sees whole codepoints).
    /// </summary>
    private static string WidenPattern(string p)
    {
        var sb = new StringBuilder(p.Length * 2);
        for (int i = 0; i < p.Length; i++)
        {
            char c = p[i];
            if (c == '\\' && i + 1 < p.Length) { sb.Append(c).Append(p[i + 1]); i++; continue; }
            if (c == '$') { sb.Append(@"\z"); continue; }
            if (c != '[') { sb.Append(c); continue; }

            int j = i + 1;
            bool negated = j < p.Length && p[j] == '^';
            if (negated) j++;
            var items = new List<(int Lo, int Hi, string? Escape)>();
            while (j < p.Length && p[j] != ']')
            {
                if (p[j] == '\\') { items.Add((0, 0, p.Substring(j, 2))); j += 2; continue; }
                int lo = char.ConvertToUtf32(p, j);
                j += lo > 0xFFFF ? 2 : 1;
                int hi = lo;
                if (j + 1 < p.Length && p[j] == '-' && p[j + 1] != ']')
                {
                    j++;
                    hi = char.ConvertToUtf32(p, j);
                    j += hi > 0xFFFF ? 2 : 1;
                }
                items.Add((lo, hi, null));
            }
            if (j >= p.Length) throw new NotSupportedException($"unterminated character class in pre-tokenizer regex: {p}");
            bool astral = items.Any(t => t.Escape == null && t.Hi > 0xFFFF);
            if (astral && negated) throw new NotSupportedException($"negated class with characters beyond U+FFFF in pre-tokenizer regex: {p}");

            var bmp = new StringBuilder();
            var alternatives = new List<string>();
            foreach (var (lo, hi, escape) in items)
            {
                if (escape != null) { bmp.Append(escape); continue; }
                if (lo <= 0xFFFF) bmp.Append(Escape(lo)).Append('-').Append(Escape(Math.Min(hi, 0xFFFF)));
                if (hi > 0xFFFF) alternatives.AddRange(SurrogateRanges(Math.Max(lo, 0x10000), hi));
            }
            string cls = "[" + (negated ? "^" : "") + bmp + "]";
            if (alternatives.Count == 0) sb.Append(cls);
            else sb.Append("(?:").Append(bmp.Length > 0 ? cls + "|" : "").Append(string.Join("|", alternatives)).Append(')');
            i = j;
        }
        return sb.ToString();
    }

    private static string Escape(int c) => "\\u" + c.ToString("X4", CultureInfo.InvariantCulture);

    private static IEnumerable<string> SurrogateRanges(int lo, int hi)
    {
        for (int cp = lo; cp <= hi;)
        {
            string a = char.ConvertFromUtf32(cp);
            int blockEnd = Math.Min(hi, (cp | 0x3FF));
            string b = char.ConvertFromUtf32(blockEnd);
            yield return Escape(a[0]) + "[" + Escape(a[1]) + "-" + Escape(b[1]) + "]";
            cp = blockEnd + 1;
        }
    }
}
