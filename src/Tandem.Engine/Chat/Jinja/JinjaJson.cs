using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Tandem.Engine.Chat.Jinja;

/// <summary>
/// JSON in and out of templates: request JSON (tools, tool-call arguments) becomes template values, and
/// <c>tojson</c> writes values back as Python's <c>json.dumps</c> does for transformers (", " and ": " separators,
/// non-ASCII kept unless <c>ensure_ascii</c>) — @huggingface/jinja's rules, JavaScript's string escaping.
/// </summary>
public static class JinjaJson
{
    /// <summary><c>tojson</c>'s keyword arguments.</summary>
    public readonly record struct Options(int? Indent = null, bool EnsureAscii = false, bool SortKeys = false, string? ItemSeparator = null, string? KeySeparator = null);

    /// <summary>A JSON value as a template value: objects keep their key order; whole numbers are integers (as in JavaScript).</summary>
    public static JinjaValue FromJson(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                var dict = new JinjaDict();
                foreach (var p in e.EnumerateObject())
                    dict.Entries[p.Name] = FromJson(p.Value);
                return dict;
            case JsonValueKind.Array:
                return new JinjaList(e.EnumerateArray().Select(FromJson).ToList());
            case JsonValueKind.String:
                return new JinjaString(e.GetString()!);
            case JsonValueKind.Number:
                if (e.TryGetInt64(out long n)) return new JinjaInt(n);
                double d = e.GetDouble();
                return d % 1 == 0 && Math.Abs(d) < 9007199254740992d ? new JinjaInt((long)d) : new JinjaFloat(d);
            case JsonValueKind.True:
                return JinjaBool.True;
            case JsonValueKind.False:
                return JinjaBool.False;
            default:
                return JinjaNone.Instance;
        }
    }

    /// <summary>Parses JSON text into a template value.</summary>
    public static JinjaValue Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return FromJson(doc.RootElement);
    }

    public static string Write(JinjaValue value, Options options, bool undefinedAsNull = true)
    {
        var sb = new StringBuilder();
        Write(sb, value, options, 0, undefinedAsNull);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, JinjaValue value, Options o, int depth, bool undefinedAsNull)
    {
        string itemSeparator = o.ItemSeparator ?? (o.Indent is > 0 ? "," : ", ");
        string keySeparator = o.KeySeparator ?? ": ";
        switch (value)
        {
            case JinjaNone:
                sb.Append("null");
                return;
            case JinjaUndefined:
                sb.Append(undefinedAsNull ? "null" : "undefined");
                return;
            case JinjaBool b:
                sb.Append(b.Value ? "true" : "false");
                return;
            case JinjaInt i:
                sb.Append(i.Value.ToString(CultureInfo.InvariantCulture));
                return;
            case JinjaFloat f:
                sb.Append(double.IsFinite(f.Value) ? JinjaFloat.JsNumber(f.Value) : "null");
                return;
            case JinjaString s:
                WriteString(sb, s.Value, o.EnsureAscii);
                return;
            case JinjaList list:
            {
                string pad = o.Indent is > 0 ? "\n" + new string(' ', o.Indent.Value * depth) : "";
                string childPad = o.Indent is > 0 ? pad + new string(' ', o.Indent.Value) : "";
                sb.Append('[');
                for (int k = 0; k < list.Items.Count; k++)
                {
                    if (k > 0) sb.Append(itemSeparator);
                    sb.Append(childPad);
                    Write(sb, list.Items[k], o, depth + 1, undefinedAsNull);
                }
                if (list.Items.Count > 0) sb.Append(pad);
                sb.Append(']');
                return;
            }
            case JinjaDict or JinjaNamespace:
            {
                var entries = value is JinjaDict d ? d.Entries : ((JinjaNamespace)value).Entries;
                IEnumerable<KeyValuePair<string, JinjaValue>> ordered = o.SortKeys ? entries.OrderBy(p => p.Key, StringComparer.Ordinal) : entries;
                string pad = o.Indent is > 0 ? "\n" + new string(' ', o.Indent.Value * depth) : "";
                string childPad = o.Indent is > 0 ? pad + new string(' ', o.Indent.Value) : "";
                sb.Append('{');
                bool first = true;
                foreach (var (key, v) in ordered)
                {
                    if (!first) sb.Append(itemSeparator);
                    first = false;
                    sb.Append(childPad);
                    WriteString(sb, key, o.EnsureAscii);
                    sb.Append(keySeparator);
                    Write(sb, v, o, depth + 1, undefinedAsNull);
                }
                if (entries.Count > 0) sb.Append(pad);
                sb.Append('}');
                return;
            }
            default:
                throw new JinjaException($"cannot write a {value.TypeName} as JSON");
        }
    }

    /// <summary>JavaScript's JSON.stringify of a string (and, with <paramref name="ensureAscii"/>, every non-ASCII character as \uXXXX).</summary>
    private static void WriteString(StringBuilder sb, string s, bool ensureAscii)
    {
        sb.Append('"');
        for (int k = 0; k < s.Length; k++)
        {
            char c = s[k];
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    bool loneSurrogate = char.IsHighSurrogate(c) ? k + 1 >= s.Length || !char.IsLowSurrogate(s[k + 1])
                        : char.IsLowSurrogate(c) && (k == 0 || !char.IsHighSurrogate(s[k - 1]));
                    if (c < ' ' || loneSurrogate || (ensureAscii && c >= '\x7f'))
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
