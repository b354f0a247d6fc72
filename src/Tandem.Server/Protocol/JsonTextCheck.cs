using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Unicode;

namespace Tandem.Server.Protocol;

/// <summary>
/// Refuses a request body whose strings are not Unicode text: invalid UTF-8 bytes, or a \u escape of a UTF-16
/// surrogate without its pair ("\ud800", "\udfff", "\ud800\u0041"). <see cref="JsonDocument"/> accepts both and
/// only <see cref="JsonElement.GetString"/> throws, deep inside whichever parser reads the field; checking every
/// string and property name once, right after parsing, turns them all into one 400 that names the field, and
/// lets the parsers read strings without a failure path of their own. Reads the raw bytes: allocates nothing
/// unless the body is refused.
/// </summary>
internal static class JsonTextCheck
{
    /// <summary>Where the walk is: a property (its name decoded only for an error message) or an array index.</summary>
    private readonly record struct Step(JsonProperty? Property, int Index);

    public static void Validate(JsonElement root)
    {
        var path = new List<Step>();
        Walk(root, path);
    }

    private static void Walk(JsonElement element, List<Step> path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                var raw = JsonMarshal.GetRawUtf8Value(element); // with its quotes
                Check(raw[1..^1], path, propertyName: false);
                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (item.ValueKind is JsonValueKind.String or JsonValueKind.Array or JsonValueKind.Object)
                    {
                        path.Add(new Step(null, i));
                        Walk(item, path);
                        path.RemoveAt(path.Count - 1);
                    }
                    i++;
                }
                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    Check(JsonMarshal.GetRawUtf8PropertyName(property), path, propertyName: true);
                    if (property.Value.ValueKind is JsonValueKind.String or JsonValueKind.Array or JsonValueKind.Object)
                    {
                        path.Add(new Step(property, 0));
                        Walk(property.Value, path);
                        path.RemoveAt(path.Count - 1);
                    }
                }
                break;
        }
    }

    private static void Check(ReadOnlySpan<byte> raw, List<Step> path, bool propertyName)
    {
        string? problem = !Utf8.IsValid(raw) ? "invalid UTF-8 bytes"
            : JsonStringBytes.DecodedUtf8Length(raw) < 0 ? "an unpaired UTF-16 surrogate escape (such as \\ud800 without a following \\udc00-\\udfff)"
            : null;
        if (problem is null)
            return;
        string? param = Param(path);
        string what = propertyName
            ? param is null ? "A property name of the request body" : $"A property name in '{param}'"
            : $"'{param}'";
        throw ApiException.Invalid(param, $"{what} is not valid Unicode text: it holds {problem}.");
    }

    /// <summary>The JSON path of the field, as the parsers name parameters: <c>messages[0].content</c>; null at the root.</summary>
    private static string? Param(List<Step> path)
    {
        if (path.Count == 0) return null;
        var text = new System.Text.StringBuilder();
        foreach (var step in path)
        {
            if (step.Property is not { } property) text.Append('[').Append(step.Index.ToString(CultureInfo.InvariantCulture)).Append(']');
            else (text.Length > 0 ? text.Append('.') : text).Append(property.Name);
        }
        return text.ToString();
    }
}
