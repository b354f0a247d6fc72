using System.Globalization;

namespace Tandem.Engine.Tokenization;

/// <summary>The general-category groups llama.cpp's unicode tables distinguish (regex \p{N}, \p{L}, ...).</summary>
internal enum CodepointCategory : byte
{
    Number,
    Letter,
    Separator,
    Mark,
    Punctuation,
    Symbol,
    Other, // \p{C}: control, format, surrogate, private use, unassigned
}

/// <summary>
/// Codepoint classification with the meaning llama.cpp's unicode-data tables give it (generated from Python's
/// `regex` module: \p{N}, \p{L}, ... and \s = the Unicode White_Space property). Categories come from .NET's
/// own Unicode tables, so they can differ from llama.cpp only on codepoints assigned in a newer Unicode version.
/// </summary>
internal static class UnicodeClass
{
    public static CodepointCategory Category(int cp)
    {
        if (cp < 0 || cp > 0x10FFFF) return CodepointCategory.Other;
        return CharUnicodeInfo.GetUnicodeCategory(cp) switch
        {
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CodepointCategory.Number,
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CodepointCategory.Letter,
            UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => CodepointCategory.Separator,
            UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark => CodepointCategory.Mark,
            UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
                or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
                or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation => CodepointCategory.Punctuation,
            UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol
                or UnicodeCategory.OtherSymbol => CodepointCategory.Symbol,
            _ => CodepointCategory.Other,
        };
    }

    /// <summary>The Unicode White_Space property (what llama.cpp's unicode_set_whitespace holds).</summary>
    public static bool IsWhitespace(int cp) => cp switch
    {
        >= 0x09 and <= 0x0D => true,
        0x20 or 0x85 or 0xA0 or 0x1680 => true,
        >= 0x2000 and <= 0x200A => true,
        0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        _ => false,
    };

    public static bool IsLetter(int cp) => Category(cp) == CodepointCategory.Letter;
    public static bool IsNumber(int cp) => Category(cp) == CodepointCategory.Number;

    /// <summary>
    /// The single character llama.cpp's unicode_regex_split substitutes for a codepoint before running a regex
    /// that uses \p{..} classes: ASCII stays itself, other whitespace becomes \v, other codepoints one
    /// stand-in per category (0xD1 number, 0xD2 letter, 0xD3 punctuation, 0xD4 mark, 0xD5 symbol, 0xD0 rest).
    /// </summary>
    public static char Collapsed(int cp)
    {
        if (cp < 128) return (char)cp;
        if (IsWhitespace(cp)) return '\v';
        return Category(cp) switch
        {
            CodepointCategory.Number => '\u00D1',
            CodepointCategory.Letter => '\u00D2',
            CodepointCategory.Punctuation => '\u00D3',
            CodepointCategory.Mark => '\u00D4',
            CodepointCategory.Symbol => '\u00D5',
            _ => '\u00D0',
        };
    }

    /// <summary>
    /// The text as codepoints, lone surrogates replaced by U+FFFD (the replacement a UTF-8 encoder makes, so
    /// llama.cpp sees the same codepoints for the same .NET string).
    /// </summary>
    public static int[] Codepoints(ReadOnlySpan<char> text)
    {
        var cps = new int[text.Length];
        int n = 0;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                cps[n++] = char.ConvertToUtf32(c, text[i + 1]);
                i++;
            }
            else cps[n++] = char.IsSurrogate(c) ? 0xFFFD : c;
        }
        return n == cps.Length ? cps : cps.AsSpan(0, n).ToArray();
    }

    /// <summary>Replaces lone surrogates by U+FFFD; returns the same instance when there are none.</summary>
    public static string Sanitize(string text)
    {
        int i = 0;
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (!char.IsSurrogate(c)) continue;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
            break;
        }
        if (i >= text.Length) return text;
        var sb = new System.Text.StringBuilder(text.Length);
        for (int j = 0; j < text.Length; j++)
        {
            char c = text[j];
            if (char.IsHighSurrogate(c) && j + 1 < text.Length && char.IsLowSurrogate(text[j + 1])) { sb.Append(c).Append(text[++j]); }
            else sb.Append(char.IsSurrogate(c) ? '\uFFFD' : c);
        }
        return sb.ToString();
    }
}
