using System.Globalization;

namespace Tandem.Engine.Gguf;

/// <summary>
/// One metadata value. Scalars are boxed .NET values of the matching type (byte, sbyte, ushort, short,
/// uint, int, float, bool, string, ulong, long, double); arrays are typed .NET arrays of those, with
/// <see cref="ElementType"/> naming the GGUF element type (nested arrays are object[] of values).
/// </summary>
public sealed class GgufMetadataValue
{
    public GgufValueType Type { get; }
    public GgufValueType ElementType { get; }
    public object Value { get; }

    public GgufMetadataValue(GgufValueType type, object value, GgufValueType elementType = GgufValueType.UInt8)
    {
        Type = type;
        Value = value;
        ElementType = elementType;
    }

    public static GgufMetadataValue Of(string v) => new(GgufValueType.String, v);
    public static GgufMetadataValue Of(uint v) => new(GgufValueType.UInt32, v);
    public static GgufMetadataValue Of(int v) => new(GgufValueType.Int32, v);
    public static GgufMetadataValue Of(float v) => new(GgufValueType.Float32, v);
    public static GgufMetadataValue Of(bool v) => new(GgufValueType.Bool, v);
    public static GgufMetadataValue Of(ulong v) => new(GgufValueType.UInt64, v);
    public static GgufMetadataValue OfArray(string[] v) => new(GgufValueType.Array, v, GgufValueType.String);
    public static GgufMetadataValue OfArray(int[] v) => new(GgufValueType.Array, v, GgufValueType.Int32);
    public static GgufMetadataValue OfArray(float[] v) => new(GgufValueType.Array, v, GgufValueType.Float32);

    /// <summary>Any integer scalar widened to long (GGUF writers disagree on which integer width they use).</summary>
    public bool TryGetInteger(out long value)
    {
        switch (Value)
        {
            case byte b: value = b; return true;
            case sbyte sb: value = sb; return true;
            case ushort us: value = us; return true;
            case short s: value = s; return true;
            case uint ui: value = ui; return true;
            case int i: value = i; return true;
            case ulong ul when ul <= long.MaxValue: value = (long)ul; return true;
            case long l: value = l; return true;
            case bool bo: value = bo ? 1 : 0; return true;
            default: value = 0; return false;
        }
    }

    /// <summary>Any numeric scalar as double.</summary>
    public bool TryGetNumber(out double value)
    {
        switch (Value)
        {
            case float f: value = f; return true;
            case double d: value = d; return true;
            default:
                bool ok = TryGetInteger(out long l);
                value = l;
                return ok;
        }
    }

    public override string ToString() => Value switch
    {
        string s => s,
        Array a => $"[{ElementType} x {a.Length}]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => Value.ToString() ?? "",
    };
}
