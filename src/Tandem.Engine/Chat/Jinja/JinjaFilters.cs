using System.Globalization;

namespace Tandem.Engine.Chat.Jinja;

/// <summary>The filters (<c>value | name(args)</c>) chat templates use, with Jinja's arguments.</summary>
internal static class JinjaFilters
{
    public static JinjaValue Apply(string name, JinjaValue v, JinjaArguments a)
    {
        switch (name)
        {
            case "safe":
                return v;
            case "tojson":
                return new JinjaString(JinjaJson.Write(v, JsonOptions(a)));
            case "string":
                return new JinjaString(v switch
                {
                    JinjaString s => s.Value,
                    JinjaList or JinjaDict or JinjaNamespace => JinjaJson.Write(v, new JinjaJson.Options(), undefinedAsNull: false),
                    JinjaNone => "None",
                    _ => v.Print(),
                });
            case "length" or "count":
                return new JinjaInt(v switch
                {
                    JinjaString s => s.Value.Length,
                    JinjaList l => l.Items.Count,
                    JinjaDict d => d.Entries.Count,
                    _ => throw Unsupported(name, v),
                });
            case "upper" or "lower" or "title" or "capitalize":
                return v is JinjaString ? ((JinjaFunction)JinjaMembers.Get(v, new JinjaString(name))).Invoke(JinjaArguments.None) : throw Unsupported(name, v);
            case "trim":
                return v is JinjaString t ? new JinjaString(JinjaMembers.Strip(t.Value, a.Get(0, "chars") is JinjaString c ? c.Value : null, true, true)) : throw Unsupported(name, v);
            case "first":
                return v switch
                {
                    JinjaList l => l.Items.Count > 0 ? l.Items[0] : JinjaUndefined.Instance,
                    JinjaString s => s.Value.Length > 0 ? new JinjaString(s.Value[..1]) : JinjaUndefined.Instance,
                    _ => throw Unsupported(name, v),
                };
            case "last":
                return v switch
                {
                    JinjaList l => l.Items.Count > 0 ? l.Items[^1] : JinjaUndefined.Instance,
                    JinjaString s => s.Value.Length > 0 ? new JinjaString(s.Value[^1..]) : JinjaUndefined.Instance,
                    _ => throw Unsupported(name, v),
                };
            case "list":
                return v switch
                {
                    JinjaList l => new JinjaList([.. l.Items]),
                    JinjaString s => new JinjaList(s.Value.Select(ch => (JinjaValue)new JinjaString(ch.ToString())).ToList()),
                    JinjaDict d => new JinjaList(d.Entries.Keys.Select(k => (JinjaValue)new JinjaString(k)).ToList()),
                    _ => throw Unsupported(name, v),
                };
            case "reverse":
                return v switch
                {
                    JinjaList l => new JinjaList(Enumerable.Reverse(l.Items).ToList()),
                    JinjaString s => new JinjaString(new string(s.Value.Reverse().ToArray())),
                    _ => throw Unsupported(name, v),
                };
            case "items":
                return v is JinjaDict d2 ? JinjaMembers.Items(d2) : throw Unsupported(name, v);
            case "dictsort":
                return v is JinjaDict d3 ? DictSort(d3, a) : throw Unsupported(name, v);
            case "join":
            {
                string separator = a.Get(0, "d") is JinjaString sep ? sep.Value : "";
                var items = v switch
                {
                    JinjaList l => l.Items,
                    JinjaString s => s.Value.Select(ch => (JinjaValue)new JinjaString(ch.ToString())).ToList(),
                    _ => throw Unsupported(name, v),
                };
                if (a.Get(1, "attribute") is JinjaString attr)
                    items = items.Select(x => Attribute(x, attr.Value)).ToList();
                return new JinjaString(string.Join(separator, items.Select(x => x is JinjaNone or JinjaUndefined ? "" : x.Concat())));
            }
            case "default" or "d":
            {
                var fallback = a.Get(0, "default_value") ?? JinjaString.Empty;
                bool boolean = a.Get(1, "boolean")?.IsTruthy ?? false;
                return v is JinjaUndefined || (boolean && !v.IsTruthy) ? fallback : v;
            }
            case "int":
                return v switch
                {
                    JinjaInt => v,
                    JinjaFloat f => new JinjaInt((long)Math.Truncate(f.Value)),
                    JinjaBool b => new JinjaInt(b.Value ? 1 : 0),
                    JinjaString s => long.TryParse(s.Value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long n) ? new JinjaInt(n) : a.Get(0, "default") ?? new JinjaInt(0),
                    _ => throw Unsupported(name, v),
                };
            case "float":
                return v switch
                {
                    JinjaInt i => new JinjaFloat(i.Value),
                    JinjaFloat => v,
                    JinjaBool b => new JinjaFloat(b.Value ? 1 : 0),
                    JinjaString s => double.TryParse(s.Value.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double x) ? new JinjaFloat(x) : a.Get(0, "default") ?? new JinjaFloat(0),
                    _ => throw Unsupported(name, v),
                };
            case "bool":
                return JinjaValue.From(v.IsTruthy);
            case "abs":
                return v switch
                {
                    JinjaInt i => new JinjaInt(Math.Abs(i.Value)),
                    JinjaFloat f => new JinjaFloat(Math.Abs(f.Value)),
                    _ => throw Unsupported(name, v),
                };
            case "round":
            {
                double x = JinjaOperators.ToNumber(v);
                int digits = a.Get(0, "precision") is JinjaInt p ? (int)p.Value : 0;
                string method = a.Get(1, "method") is JinjaString m ? m.Value : "common";
                double scale = Math.Pow(10, digits);
                double r = method switch
                {
                    "ceil" => Math.Ceiling(x * scale) / scale,
                    "floor" => Math.Floor(x * scale) / scale,
                    _ => Math.Round(x, digits, MidpointRounding.AwayFromZero),
                };
                return new JinjaFloat(r);
            }
            case "sum":
            {
                if (v is not JinjaList l) throw Unsupported(name, v);
                JinjaValue total = a.Get(1, "start") ?? new JinjaInt(0);
                foreach (var x in l.Items)
                    total = JinjaOperators.Binary("+", total, a.Get(0, "attribute") is JinjaString attr ? Attribute(x, attr.Value) : x);
                return total;
            }
            case "min" or "max":
            {
                if (v is not JinjaList { Items.Count: > 0 } l) return JinjaUndefined.Instance;
                var sorted = l.Items.Order(Comparer(false)).ToList();
                return name == "min" ? sorted[0] : sorted[^1];
            }
            case "unique":
            {
                if (v is not JinjaList l) throw Unsupported(name, v);
                var seen = new List<JinjaValue>();
                foreach (var x in l.Items)
                    if (!seen.Any(s => JinjaOperators.AreEqual(s, x)))
                        seen.Add(x);
                return new JinjaList(seen);
            }
            case "sort":
            {
                if (v is not JinjaList l) throw Unsupported(name, v);
                bool reverse = a.Get(0, "reverse")?.IsTruthy ?? false;
                bool caseSensitive = a.Get(1, "case_sensitive")?.IsTruthy ?? false;
                var attribute = a.Get(2, "attribute");
                string? path = attribute switch { JinjaString s => s.Value, JinjaInt i => i.Value.ToString(CultureInfo.InvariantCulture), _ => null };
                var keyed = l.Items.Select(x => (Item: x, Key: path is null ? x : Attribute(x, path))).ToList();
                var comparer = Comparer(caseSensitive);
                var sorted = keyed.OrderBy(p => p.Key, comparer).Select(p => p.Item).ToList(); // stable, as Python's sort
                if (reverse) sorted = keyed.OrderByDescending(p => p.Key, comparer).Select(p => p.Item).ToList();
                return new JinjaList(sorted);
            }
            case "selectattr" or "rejectattr":
            {
                if (v is not JinjaList l) throw Unsupported(name, v);
                if (a.Get(0, "attr") is not JinjaString attr) throw new JinjaException($"{name} needs an attribute name");
                bool select = name == "selectattr";
                var rest = a.Positional.Skip(2).ToList();
                var kept = l.Items.Where(x =>
                {
                    var value = Attribute(x, attr.Value);
                    // Jinja applies the test to a missing attribute too (selectattr("tool_calls", "undefined")
                    // keeps the messages without calls); @huggingface/jinja would drop them.
                    bool result = a.Positional.Count > 1 && a.Positional[1] is JinjaString test
                        ? JinjaTests.Run(test.Value, value, rest)
                        : value.IsTruthy;
                    return result == select;
                });
                return new JinjaList(kept.ToList());
            }
            case "select" or "reject":
            {
                if (v is not JinjaList l) throw Unsupported(name, v);
                bool select = name == "select";
                var rest = a.Positional.Skip(1).ToList();
                return new JinjaList(l.Items.Where(x =>
                    (a.Positional.Count > 0 && a.Positional[0] is JinjaString test ? JinjaTests.Run(test.Value, x, rest) : x.IsTruthy) == select).ToList());
            }
            case "map":
            {
                if (v is not JinjaList l) throw Unsupported(name, v);
                if (a.Keywords.TryGetValue("attribute", out var attribute))
                {
                    if (attribute is not JinjaString attr) throw new JinjaException("map(attribute=...) needs a string");
                    var fallback = a.Keywords.GetValueOrDefault("default");
                    return new JinjaList(l.Items.Select(x => Attribute(x, attr.Value) is JinjaUndefined && fallback is not null ? fallback : Attribute(x, attr.Value)).ToList());
                }
                if (a.Positional.Count > 0 && a.Positional[0] is JinjaString filter)
                {
                    var rest = new JinjaArguments(a.Positional.Skip(1).ToList(), a.Keywords);
                    return new JinjaList(l.Items.Select(x => Apply(filter.Value, x, rest)).ToList());
                }
                throw new JinjaException("map needs a filter name or attribute=");
            }
            case "indent":
            {
                if (v is not JinjaString s) throw Unsupported(name, v);
                string indent = a.Get(0, "width") switch
                {
                    JinjaString w => w.Value,
                    JinjaInt w => new string(' ', (int)Math.Max(0, w.Value)),
                    _ => "    ",
                };
                bool first = a.Get(1, "first")?.IsTruthy ?? false;
                bool blank = a.Get(2, "blank")?.IsTruthy ?? false;
                var lines = s.Value.Split('\n');
                for (int i = 0; i < lines.Length; i++)
                    if ((first || i > 0) && (blank || lines[i].Length > 0))
                        lines[i] = indent + lines[i];
                return new JinjaString(string.Join('\n', lines));
            }
            case "replace":
                return v is JinjaString ? ((JinjaFunction)JinjaMembers.Get(v, new JinjaString("replace"))).Invoke(a) : throw Unsupported(name, v);
            case "wordcount":
                return v is JinjaString wc ? new JinjaInt(wc.Value.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length) : throw Unsupported(name, v);
            default:
                throw new JinjaException($"unknown filter '{name}'");
        }
    }

    private static JinjaException Unsupported(string filter, JinjaValue v) => new($"filter '{filter}' does not apply to a {v.TypeName}");

    private static JinjaJson.Options JsonOptions(JinjaArguments a)
    {
        int? indent = a.Get(0, "indent") switch
        {
            JinjaInt i => (int)i.Value,
            null or JinjaNone or JinjaUndefined => null,
            var x => throw new JinjaException($"tojson(indent=...) takes an integer, not a {x.TypeName}"),
        };
        string? item = null, key = null;
        if (a.Keywords.TryGetValue("separators", out var separators) && separators is not JinjaNone)
        {
            if (separators is not JinjaList { Items: [JinjaString i, JinjaString k] })
                throw new JinjaException("tojson(separators=...) takes two strings");
            (item, key) = (i.Value, k.Value);
        }
        return new JinjaJson.Options(indent, a.Keywords.GetValueOrDefault("ensure_ascii")?.IsTruthy ?? false,
            a.Keywords.GetValueOrDefault("sort_keys")?.IsTruthy ?? false, item, key);
    }

    /// <summary>A dotted attribute path ("function.name", "items.0") of a value; undefined where it leads nowhere.</summary>
    public static JinjaValue Attribute(JinjaValue item, string path)
    {
        var value = item;
        foreach (string part in path.Split('.'))
        {
            value = value switch
            {
                JinjaDict or JinjaNamespace => JinjaMembers.Get(value, new JinjaString(part)),
                JinjaList when long.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out long i) => JinjaMembers.Get(value, new JinjaInt(i)),
                _ => JinjaUndefined.Instance,
            };
            if (value is JinjaUndefined) break;
        }
        return value;
    }

    public static JinjaList DictSort(JinjaDict d, JinjaArguments a)
    {
        bool caseSensitive = a.Get(0, "case_sensitive")?.IsTruthy ?? false;
        string by = a.Get(1, "by") is JinjaString b ? b.Value : "key";
        bool reverse = a.Get(2, "reverse")?.IsTruthy ?? false;
        if (by is not ("key" or "value"))
            throw new JinjaException("dictsort(by=...) is 'key' or 'value'");
        var comparer = Comparer(caseSensitive);
        var pairs = d.Entries.Select(p => (Key: (JinjaValue)new JinjaString(p.Key), p.Value)).ToList();
        var sorted = reverse
            ? pairs.OrderByDescending(p => by == "key" ? p.Key : p.Value, comparer)
            : pairs.OrderBy(p => by == "key" ? p.Key : p.Value, comparer);
        return new JinjaList(sorted.Select(p => (JinjaValue)new JinjaList([p.Key, p.Value], isTuple: true)).ToList());
    }

    /// <summary>Orders numbers by value and strings (case-insensitively unless asked) by code unit; other mixes cannot be sorted.</summary>
    private static Comparer<JinjaValue> Comparer(bool caseSensitive) => Comparer<JinjaValue>.Create((x, y) =>
    {
        if (JinjaOperators.IsNumeric(x) && JinjaOperators.IsNumeric(y))
            return JinjaOperators.ToNumber(x).CompareTo(JinjaOperators.ToNumber(y));
        if (x is JinjaString xs && y is JinjaString ys)
            return caseSensitive ? string.CompareOrdinal(xs.Value, ys.Value)
                : string.CompareOrdinal(xs.Value.ToLowerInvariant(), ys.Value.ToLowerInvariant());
        if (x is JinjaNone or JinjaUndefined && y is JinjaNone or JinjaUndefined)
            return 0;
        throw new JinjaException($"cannot compare a {x.TypeName} with a {y.TypeName}");
    });
}
