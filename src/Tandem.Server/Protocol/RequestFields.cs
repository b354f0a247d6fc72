using System.Text.Json;

namespace Tandem.Server.Protocol;

/// <summary>
/// Typed, validated access to the top-level fields of a JSON request body. A JSON null counts as absent (clients
/// send nulls for unset options); a value of the wrong type or out of range throws a 400 naming the parameter.
/// </summary>
internal readonly struct RequestFields
{
    private readonly JsonElement _root;

    public RequestFields(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw ApiException.Invalid(null, "The request body must be a JSON object.");
        _root = root;
    }

    public bool TryGet(string name, out JsonElement value)
    {
        if (_root.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null)
            return true;
        value = default;
        return false;
    }

    public bool Has(string name) => TryGet(name, out _);

    public string? String(string name)
    {
        if (!TryGet(name, out var v)) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString()
            : throw ApiException.Invalid(name, $"'{name}' must be a string.");
    }

    public bool? Bool(string name)
    {
        if (!TryGet(name, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw ApiException.Invalid(name, $"'{name}' must be a boolean."),
        };
    }

    /// <summary>An integer in [min, max]; the range is part of the message when it is violated.</summary>
    public long? Integer(string name, long min = long.MinValue, long max = long.MaxValue)
    {
        if (!TryGet(name, out var v)) return null;
        long value;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out value))
        {
            // 3.0 is an integer to most clients' serializers; accept it the way Python's pydantic does.
            if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) < 9e15)
                value = (long)d;
            else
                throw ApiException.Invalid(name, $"'{name}' must be an integer.");
        }
        if (value < min || value > max)
            throw ApiException.Invalid(name, $"'{name}' must be {RangeText(min, max)}; got {value}.");
        return value;
    }

    public int? Int(string name, int min = int.MinValue, int max = int.MaxValue) => (int?)Integer(name, min, max);

    /// <summary>A finite number in [min, max].</summary>
    public double? Number(string name, double min = double.MinValue, double max = double.MaxValue)
    {
        if (!TryGet(name, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double value) || !double.IsFinite(value))
            throw ApiException.Invalid(name, $"'{name}' must be a number.");
        if (value < min || value > max)
            throw ApiException.Invalid(name, $"'{name}' must be {RangeText(min, max)}; got {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
        return value;
    }

    /// <summary><c>stop</c>: a string or an array of strings; empty strings are dropped (they would stop at once).</summary>
    public IReadOnlyList<string> StringOrStrings(string name)
    {
        if (!TryGet(name, out var v)) return [];
        if (v.ValueKind == JsonValueKind.String)
            return v.GetString() is { Length: > 0 } s ? [s] : [];
        if (v.ValueKind != JsonValueKind.Array)
            throw ApiException.Invalid(name, $"'{name}' must be a string or an array of strings.");
        var list = new List<string>();
        foreach (var item in v.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
                throw ApiException.Invalid(name, $"'{name}' must be a string or an array of strings.");
            if (item.GetString() is { Length: > 0 } s)
                list.Add(s);
        }
        return list;
    }

    /// <summary>An array of token ids inside a vocabulary of <paramref name="vocab"/> tokens; empty when absent.</summary>
    public int[] TokenIds(string name, int vocab)
    {
        if (!TryGet(name, out var ids)) return [];
        if (ids.ValueKind != JsonValueKind.Array)
            throw ApiException.Invalid(name, $"'{name}' must be an array of token ids.");
        var list = new int[ids.GetArrayLength()];
        int i = 0;
        foreach (var item in ids.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int id) || id < 0 || id >= vocab)
                throw ApiException.Invalid(name, $"'{name}' must hold token ids between 0 and {vocab - 1}; got {item.GetRawText()}.");
            list[i++] = id;
        }
        return list;
    }

    private static string RangeText<T>(T min, T max) where T : System.Numerics.INumber<T>, System.Numerics.IMinMaxValue<T>
    {
        string lo = min.ToString(null, System.Globalization.CultureInfo.InvariantCulture);
        string hi = max.ToString(null, System.Globalization.CultureInfo.InvariantCulture);
        return min == T.MinValue ? $"at most {hi}" : max == T.MaxValue ? $"at least {lo}" : $"between {lo} and {hi}";
    }
}
