using System.Text;

namespace Tandem.Engine.Chat.Jinja;

/// <summary>
/// <c>x.name</c> and <c>x[key]</c>: dict keys, list and string indices, and the methods templates call — Python's
/// string methods (<c>strip</c>, <c>split</c>, <c>startswith</c>, ...) and dict methods (<c>get</c>, <c>items</c>, ...).
/// Anything missing is undefined, not an error, as in Jinja; reading from an undefined value is an error.
/// </summary>
internal static class JinjaMembers
{
    public static JinjaValue Get(JinjaValue target, JinjaValue key)
    {
        switch (target)
        {
            case JinjaDict d:
                if (key is JinjaString k)
                    return d.Entries.TryGetValue(k.Value, out var v) ? v : DictMethod(d, k.Value);
                return JinjaUndefined.Instance;
            case JinjaNamespace ns:
                return key is JinjaString nk && ns.Entries.TryGetValue(nk.Value, out var nv) ? nv : JinjaUndefined.Instance;
            case JinjaList l:
                if (key is JinjaInt li)
                    return JinjaSlicing.Index(li.Value, l.Items.Count) is { } at ? l.Items[at] : JinjaUndefined.Instance;
                return key is JinjaString { Value: "length" } ? new JinjaInt(l.Items.Count) : JinjaUndefined.Instance;
            case JinjaString s:
                if (key is JinjaInt si)
                    return JinjaSlicing.Index(si.Value, s.Value.Length) is { } at ? new JinjaString(s.Value[at].ToString()) : JinjaUndefined.Instance;
                return key is JinjaString name ? StringMethod(s.Value, name.Value) : JinjaUndefined.Instance;
            case JinjaUndefined:
                // As in Jinja: reading from something undefined is an error (x.y where x is missing), while a
                // missing key or attribute of a real value is merely undefined.
                throw new JinjaException($"cannot read '{key.Print()}' of an undefined value");
            default:
                return JinjaUndefined.Instance;
        }
    }

    private static JinjaValue DictMethod(JinjaDict d, string name) => name switch
    {
        "get" => new JinjaFunction(a =>
        {
            if (a.Get(0, "key") is not JinjaString key)
                throw new JinjaException("dict.get() needs a string key");
            return d.Entries.TryGetValue(key.Value, out var v) ? v : a.Get(1, "default") ?? JinjaNone.Instance;
        }),
        "items" => new JinjaFunction(_ => Items(d)),
        "keys" => new JinjaFunction(_ => new JinjaList(d.Entries.Keys.Select(k => (JinjaValue)new JinjaString(k)).ToList())),
        "values" => new JinjaFunction(_ => new JinjaList(d.Entries.Values.ToList())),
        "dictsort" => new JinjaFunction(a => JinjaFilters.DictSort(d, a)),
        _ => JinjaUndefined.Instance,
    };

    public static JinjaList Items(JinjaDict d) =>
        new(d.Entries.Select(p => (JinjaValue)new JinjaList([new JinjaString(p.Key), p.Value], isTuple: true)).ToList());

    private static JinjaValue StringMethod(string s, string name) => name switch
    {
        "upper" => Method(_ => new JinjaString(s.ToUpperInvariant())),
        "lower" => Method(_ => new JinjaString(s.ToLowerInvariant())),
        "strip" => Method(a => new JinjaString(Strip(s, Chars(a), start: true, end: true))),
        "lstrip" => Method(a => new JinjaString(Strip(s, Chars(a), start: true, end: false))),
        "rstrip" => Method(a => new JinjaString(Strip(s, Chars(a), start: false, end: true))),
        "title" => Method(_ => new JinjaString(Title(s))),
        "capitalize" => Method(_ => new JinjaString(s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..])),
        "length" => new JinjaInt(s.Length),
        "startswith" => Method(a => JinjaValue.From(Affixes(a, "startswith").Any(p => s.StartsWith(p, StringComparison.Ordinal)))),
        "endswith" => Method(a => JinjaValue.From(Affixes(a, "endswith").Any(p => s.EndsWith(p, StringComparison.Ordinal)))),
        "split" => Method(a => Split(s, a)),
        "splitlines" => Method(_ => new JinjaList(s.Split('\n').Select(l => (JinjaValue)new JinjaString(l.TrimEnd('\r'))).SkipLastIfEmpty(s).ToList())),
        "replace" => Method(a => Replace(s, a)),
        "find" => Method(a => new JinjaInt(a.Get(0, "sub") is JinjaString sub ? s.IndexOf(sub.Value, StringComparison.Ordinal) : throw new JinjaException("str.find() needs a string"))),
        "count" => Method(a => new JinjaInt(a.Get(0, "sub") is JinjaString { Value.Length: > 0 } sub ? CountOf(s, sub.Value) : throw new JinjaException("str.count() needs a non-empty string"))),
        "join" => Method(a => a.Get(0, "iterable") is JinjaList items
            ? new JinjaString(string.Join(s, items.Items.Select(x => x.Concat())))
            : throw new JinjaException("str.join() needs a list")),
        "isdigit" => Method(_ => JinjaValue.From(s.Length > 0 && s.All(char.IsDigit))),
        "isalpha" => Method(_ => JinjaValue.From(s.Length > 0 && s.All(char.IsLetter))),
        "isspace" => Method(_ => JinjaValue.From(s.Length > 0 && s.All(char.IsWhiteSpace))),
        _ => JinjaUndefined.Instance,
    };

    private static JinjaFunction Method(Func<JinjaArguments, JinjaValue> body) => new(body);

    private static IEnumerable<JinjaValue> SkipLastIfEmpty(this IEnumerable<JinjaValue> lines, string s) =>
        s.EndsWith('\n') ? lines.SkipLast(1) : lines;

    private static string? Chars(JinjaArguments a) => a.Get(0, "chars") switch
    {
        null or JinjaNone or JinjaUndefined => null,
        JinjaString c => c.Value,
        var v => throw new JinjaException($"strip() takes a string, not a {v.TypeName}"),
    };

    /// <summary>Python's strip family: whitespace when <paramref name="chars"/> is null, else any of those characters.</summary>
    public static string Strip(string s, string? chars, bool start, bool end)
    {
        bool Strippable(char c) => chars is null ? JinjaLexer.IsWhitespace(c) : chars.Contains(c);
        int from = 0, to = s.Length;
        if (start) while (from < to && Strippable(s[from])) from++;
        if (end) while (to > from && Strippable(s[to - 1])) to--;
        return s[from..to];
    }

    /// <summary>Upper-cases each letter that starts a word (a run of ASCII letters, digits and '_'), as @huggingface/jinja does.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            bool word = char.IsAsciiLetterOrDigit(s[i]) || s[i] == '_';
            bool startsWord = word && (i == 0 || !(char.IsAsciiLetterOrDigit(s[i - 1]) || s[i - 1] == '_'));
            sb.Append(startsWord ? char.ToUpperInvariant(s[i]) : s[i]);
        }
        return sb.ToString();
    }

    private static IEnumerable<string> Affixes(JinjaArguments a, string method) => a.Get(0, "prefix") switch
    {
        JinjaString p => [p.Value],
        JinjaList l => l.Items.Select(x => x is JinjaString xs ? xs.Value : throw new JinjaException($"{method}() takes strings")),
        _ => throw new JinjaException($"{method}() takes a string or a tuple of strings"),
    };

    private static JinjaList Split(string s, JinjaArguments a)
    {
        var sep = a.Get(0, "sep");
        long max = a.Get(1, "maxsplit") is JinjaInt m ? m.Value : -1;
        var parts = new List<string>();
        if (sep is null or JinjaNone or JinjaUndefined)
        {
            // Runs of whitespace separate; leading and trailing whitespace give no empty parts.
            int i = 0;
            while (true)
            {
                while (i < s.Length && JinjaLexer.IsWhitespace(s[i])) i++;
                if (i >= s.Length) break;
                if (max >= 0 && parts.Count >= max)
                {
                    parts.Add(JinjaLexer.TrimEnd(s[i..]));
                    break;
                }
                int j = i;
                while (j < s.Length && !JinjaLexer.IsWhitespace(s[j])) j++;
                parts.Add(s[i..j]);
                i = j;
            }
        }
        else if (sep is JinjaString separator)
        {
            if (separator.Value.Length == 0)
                throw new JinjaException("str.split(): empty separator");
            parts.AddRange(max >= 0 ? s.Split(separator.Value, (int)Math.Min(max + 1, int.MaxValue)) : s.Split(separator.Value));
        }
        else
        {
            throw new JinjaException("str.split() takes a string separator");
        }
        return new JinjaList(parts.Select(p => (JinjaValue)new JinjaString(p)).ToList());
    }

    private static JinjaString Replace(string s, JinjaArguments a)
    {
        if (a.Get(0, "old") is not JinjaString old || a.Get(1, "new") is not JinjaString replacement)
            throw new JinjaException("str.replace() takes two strings");
        long count = a.Get(2, "count") is JinjaInt c ? c.Value : -1;
        if (count < 0)
            return new JinjaString(old.Value.Length == 0 ? InsertEverywhere(s, replacement.Value) : s.Replace(old.Value, replacement.Value, StringComparison.Ordinal));
        var sb = new StringBuilder();
        int pos = 0;
        for (long k = 0; k < count; k++)
        {
            int at = s.IndexOf(old.Value, pos, StringComparison.Ordinal);
            if (at < 0 || old.Value.Length == 0) break;
            sb.Append(s, pos, at - pos).Append(replacement.Value);
            pos = at + old.Value.Length;
        }
        return new JinjaString(sb.Append(s, pos, s.Length - pos).ToString());
    }

    private static string InsertEverywhere(string s, string insert)
    {
        var sb = new StringBuilder(insert);
        foreach (char c in s) sb.Append(c).Append(insert);
        return sb.ToString();
    }

    private static int CountOf(string s, string sub)
    {
        int n = 0;
        for (int at = s.IndexOf(sub, StringComparison.Ordinal); at >= 0; at = s.IndexOf(sub, at + sub.Length, StringComparison.Ordinal)) n++;
        return n;
    }
}
