using System.Text;
using System.Text.RegularExpressions;

namespace Tandem.Engine.Chat.Jinja;

/// <summary>
/// Splits a template into tokens. Whitespace control follows Hugging Face: the template is pre-processed as
/// transformers configures Jinja for chat templates (trim_blocks and lstrip_blocks on, one trailing newline dropped,
/// the transformers-only <c>{% generation %}</c> tags removed), and <c>{%-</c>, <c>-%}</c>, <c>{{-</c>, <c>-}}</c>,
/// <c>{#-</c>, <c>-#}</c> strip the whitespace beside them — exactly as @huggingface/jinja does, so renders agree
/// byte for byte.
/// </summary>
internal static partial class JinjaLexer
{
    private static readonly (string Text, JinjaTokenType Type)[] Symbols =
    [
        ("{%", JinjaTokenType.OpenStatement),
        ("%}", JinjaTokenType.CloseStatement),
        ("{{", JinjaTokenType.OpenExpression),
        ("}}", JinjaTokenType.CloseExpression),
        ("(", JinjaTokenType.OpenParen),
        (")", JinjaTokenType.CloseParen),
        ("{", JinjaTokenType.OpenCurlyBracket),
        ("}", JinjaTokenType.CloseCurlyBracket),
        ("[", JinjaTokenType.OpenSquareBracket),
        ("]", JinjaTokenType.CloseSquareBracket),
        (",", JinjaTokenType.Comma),
        (".", JinjaTokenType.Dot),
        (":", JinjaTokenType.Colon),
        ("|", JinjaTokenType.Pipe),
        ("<=", JinjaTokenType.ComparisonBinaryOperator),
        (">=", JinjaTokenType.ComparisonBinaryOperator),
        ("==", JinjaTokenType.ComparisonBinaryOperator),
        ("!=", JinjaTokenType.ComparisonBinaryOperator),
        ("<", JinjaTokenType.ComparisonBinaryOperator),
        (">", JinjaTokenType.ComparisonBinaryOperator),
        ("+", JinjaTokenType.AdditiveBinaryOperator),
        ("-", JinjaTokenType.AdditiveBinaryOperator),
        ("~", JinjaTokenType.AdditiveBinaryOperator),
        ("**", JinjaTokenType.ExponentiationBinaryOperator), // before "*"
        ("*", JinjaTokenType.MultiplicativeBinaryOperator),
        ("//", JinjaTokenType.MultiplicativeBinaryOperator), // before "/"
        ("/", JinjaTokenType.MultiplicativeBinaryOperator),
        ("%", JinjaTokenType.MultiplicativeBinaryOperator),
        ("=", JinjaTokenType.Equals),
    ];

    [GeneratedRegex(@"^[ \t]*(\{[#%-])", RegexOptions.Multiline)]
    private static partial Regex LeadingBlockIndent();

    [GeneratedRegex(@"([#%-]\})\n")]
    private static partial Regex NewlineAfterBlock();

    [GeneratedRegex(@"\{%(-?)\s*(?:end)?generation\s*(-?)%\}(\s*)", RegexOptions.Singleline)]
    private static partial Regex GenerationTag();

    /// <summary>The template as transformers' Jinja environment sees it (see the class remarks).</summary>
    public static string Preprocess(string template)
    {
        if (template.EndsWith('\n'))
            template = template[..^1];
        template = LeadingBlockIndent().Replace(template, "$1");
        template = NewlineAfterBlock().Replace(template, "$1");

        // {% generation %} / {% endgeneration %} mark the assistant's tokens for training masks; rendering drops them,
        // honouring their own whitespace control.
        var result = new StringBuilder(template.Length);
        int last = 0;
        foreach (Match m in GenerationTag().Matches(template))
        {
            int end = m.Index;
            if (m.Groups[1].Length > 0)
                while (end > last && IsWhitespace(template[end - 1])) end--;
            result.Append(template, last, end - last);
            if (m.Groups[2].Length == 0)
                result.Append(m.Groups[3].Value);
            last = m.Index + m.Length;
        }
        return result.Append(template, last, template.Length - last).ToString();
    }

    public static List<JinjaToken> Tokenize(string source)
    {
        var tokens = new List<JinjaToken>();
        string src = Preprocess(source);
        int length = src.Length;
        int pos = 0;
        int curlyDepth = 0;

        char At(int i) => i < length ? src[i] : '\0';

        string ConsumeWhile(Func<char, bool> predicate)
        {
            int start = pos;
            while (pos < length && predicate(src[pos]))
            {
                if (++pos >= length)
                    throw new JinjaException("unexpected end of template");
            }
            return src[start..pos];
        }

        void StripTrailingWhitespace()
        {
            if (tokens.Count > 0 && tokens[^1].Type == JinjaTokenType.Text)
            {
                string trimmed = TrimEnd(tokens[^1].Value);
                if (trimmed.Length == 0) tokens.RemoveAt(tokens.Count - 1);
                else tokens[^1].Value = trimmed;
            }
        }

        void SkipLeadingWhitespace()
        {
            while (pos < length && IsWhitespace(src[pos])) pos++;
        }

        while (pos < length)
        {
            var lastType = tokens.Count > 0 ? tokens[^1].Type : (JinjaTokenType?)null;

            // Text outside tags runs up to the next "{%", "{{" or "{#".
            if (lastType is null or JinjaTokenType.CloseStatement or JinjaTokenType.CloseExpression or JinjaTokenType.Comment)
            {
                int end = pos;
                while (true)
                {
                    end = src.IndexOf('{', end);
                    if (end < 0)
                    {
                        end = length;
                        break;
                    }
                    char next = At(end + 1);
                    if (next is '%' or '{' or '#')
                        break;
                    end++;
                }
                if (end > pos)
                {
                    tokens.Add(new JinjaToken(src[pos..end], JinjaTokenType.Text));
                    pos = end;
                    continue;
                }
            }

            if (src[pos] == '{')
            {
                char next = At(pos + 1);
                if (next == '#')
                {
                    pos += 2;
                    bool stripBefore = At(pos) == '-';
                    if (stripBefore) pos++;
                    int end = src.IndexOf("#}", pos, StringComparison.Ordinal);
                    if (end < 0)
                        throw new JinjaException("a comment is not closed with #}");
                    string comment = src[pos..end];
                    bool stripAfter = comment.EndsWith('-');
                    if (stripAfter) comment = comment[..^1];
                    if (stripBefore) StripTrailingWhitespace();
                    tokens.Add(new JinjaToken(comment, JinjaTokenType.Comment));
                    pos = end + 2;
                    if (stripAfter) SkipLeadingWhitespace();
                    continue;
                }
                if (At(pos + 2) == '-' && next is '%' or '{')
                {
                    StripTrailingWhitespace();
                    tokens.Add(next == '%' ? new JinjaToken("{%", JinjaTokenType.OpenStatement) : new JinjaToken("{{", JinjaTokenType.OpenExpression));
                    if (next == '{') curlyDepth = 0;
                    pos += 3;
                    continue;
                }
            }

            // Whitespace inside a tag separates tokens and is dropped.
            while (pos < length && IsWhitespace(src[pos])) pos++;
            if (pos >= length)
                throw new JinjaException("unexpected end of template inside a tag");

            char c = src[pos];
            if (c == '-' && At(pos + 2) == '}' && At(pos + 1) is '%' or '}')
            {
                tokens.Add(At(pos + 1) == '%' ? new JinjaToken("%}", JinjaTokenType.CloseStatement) : new JinjaToken("}}", JinjaTokenType.CloseExpression));
                pos += 3;
                SkipLeadingWhitespace();
                continue;
            }

            if (c is '-' or '+')
            {
                if (lastType is null or JinjaTokenType.Text)
                    throw new JinjaException($"unexpected character '{c}'");
                if (lastType is not (JinjaTokenType.Identifier or JinjaTokenType.NumericLiteral or JinjaTokenType.StringLiteral
                    or JinjaTokenType.CloseParen or JinjaTokenType.CloseSquareBracket))
                {
                    // A sign: "-1" is one numeric literal, "-x" a unary operator.
                    pos++;
                    string num = ConsumeWhile(char.IsAsciiDigit);
                    if (num.Length > 0 && At(pos) == '.' && char.IsAsciiDigit(At(pos + 1)))
                    {
                        pos++;
                        num = $"{num}.{ConsumeWhile(char.IsAsciiDigit)}";
                    }
                    tokens.Add(new JinjaToken(c + num, num.Length > 0 ? JinjaTokenType.NumericLiteral : JinjaTokenType.UnaryOperator));
                    continue;
                }
            }

            bool matched = false;
            foreach (var (text, type) in Symbols)
            {
                if (text == "}}" && curlyDepth > 0)
                    continue; // inside a dict literal "}}" closes two dicts, not the expression
                if (string.CompareOrdinal(src, pos, text, 0, text.Length) == 0)
                {
                    tokens.Add(new JinjaToken(text, type));
                    if (type == JinjaTokenType.OpenExpression) curlyDepth = 0;
                    else if (type == JinjaTokenType.OpenCurlyBracket) curlyDepth++;
                    else if (type == JinjaTokenType.CloseCurlyBracket) curlyDepth--;
                    pos += text.Length;
                    matched = true;
                    break;
                }
            }
            if (matched)
                continue;

            if (c is '\'' or '"')
            {
                pos++;
                tokens.Add(new JinjaToken(ReadString(src, ref pos, c), JinjaTokenType.StringLiteral));
                pos++;
                continue;
            }
            if (char.IsAsciiDigit(c))
            {
                string num = ConsumeWhile(char.IsAsciiDigit);
                if (lastType != JinjaTokenType.Dot && At(pos) == '.' && char.IsAsciiDigit(At(pos + 1)))
                {
                    pos++;
                    num = $"{num}.{ConsumeWhile(char.IsAsciiDigit)}";
                }
                tokens.Add(new JinjaToken(num, JinjaTokenType.NumericLiteral));
                continue;
            }
            if (IsWord(c))
            {
                tokens.Add(new JinjaToken(ConsumeWhile(IsWord), JinjaTokenType.Identifier));
                continue;
            }
            throw new JinjaException($"unexpected character '{c}'");
        }
        return tokens;
    }

    private static string ReadString(string src, ref int pos, char quote)
    {
        var sb = new StringBuilder();
        while (true)
        {
            if (pos >= src.Length)
                throw new JinjaException("a string literal is not closed");
            char ch = src[pos];
            if (ch == quote)
                return sb.ToString();
            pos++;
            if (ch != '\\')
            {
                sb.Append(ch);
                continue;
            }
            if (pos >= src.Length)
                throw new JinjaException("a string literal is not closed");
            char escaped = src[pos++];
            if (escaped is 'x' or 'u')
            {
                int n = escaped == 'x' ? 2 : 4;
                if (pos + n > src.Length || !int.TryParse(src.AsSpan(pos, n), System.Globalization.NumberStyles.HexNumber, null, out int code))
                    throw new JinjaException($"invalid escape \\{escaped} in a string literal");
                sb.Append((char)code);
                pos += n;
                continue;
            }
            sb.Append(escaped switch
            {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                'b' => '\b',
                'f' => '\f',
                'v' => '\v',
                '\'' => '\'',
                '"' => '"',
                '\\' => '\\',
                _ => throw new JinjaException($"unknown escape \\{escaped} in a string literal"),
            });
        }
    }

    private static bool IsWord(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    /// <summary>JavaScript's <c>\s</c>, which @huggingface/jinja strips with.</summary>
    internal static bool IsWhitespace(char c) => c <= ' '
        ? c == ' ' || (c >= '\t' && c <= '\r')
        : c > 127 && (c == '\u00a0' || c == '\u1680' || (c >= '\u2000' && c <= '\u200a') || c == '\u2028' || c == '\u2029'
            || c == '\u202f' || c == '\u205f' || c == '\u3000' || c == '\ufeff');

    internal static string TrimEnd(string s)
    {
        int end = s.Length;
        while (end > 0 && IsWhitespace(s[end - 1])) end--;
        return s[..end];
    }

    internal static string TrimStart(string s)
    {
        int start = 0;
        while (start < s.Length && IsWhitespace(s[start])) start++;
        return s[start..];
    }
}
