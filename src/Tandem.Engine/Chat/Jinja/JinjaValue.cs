using System.Globalization;

namespace Tandem.Engine.Chat.Jinja;

/// <summary>
/// A value while a template renders. Truthiness, printing and equality follow @huggingface/jinja (Python's rules
/// for truthiness; JavaScript's spelling of <c>true</c>/<c>false</c> when printed), so renders match it.
/// </summary>
public abstract class JinjaValue
{
    /// <summary>The type's name in error messages ("string", "list", ...).</summary>
    public abstract string TypeName { get; }

    /// <summary>Python truthiness: empty strings, lists and dicts, zero, none and undefined are false.</summary>
    public virtual bool IsTruthy => true;

    /// <summary>What <c>{{ value }}</c> writes.</summary>
    public abstract string Print();

    /// <summary>What <c>+</c> and <c>~</c> join with a string (a float 2.0 joins as "2", as in @huggingface/jinja).</summary>
    public virtual string Concat() => Print();

    public static JinjaValue From(string? s) => s is null ? JinjaNone.Instance : new JinjaString(s);
    public static JinjaValue From(bool b) => b ? JinjaBool.True : JinjaBool.False;
    public static JinjaValue From(long n) => new JinjaInt(n);

    public override string ToString() => Print();
}

/// <summary>A name nothing was bound to, or a missing key or attribute: prints as nothing, is false, is "not defined".</summary>
public sealed class JinjaUndefined : JinjaValue
{
    public static readonly JinjaUndefined Instance = new();
    private JinjaUndefined() { }
    public override string TypeName => "undefined";
    public override bool IsTruthy => false;
    public override string Print() => "";
}

/// <summary>Python's None (JSON null): false; prints as nothing.</summary>
public sealed class JinjaNone : JinjaValue
{
    public static readonly JinjaNone Instance = new();
    private JinjaNone() { }
    public override string TypeName => "none";
    public override bool IsTruthy => false;
    public override string Print() => "";
}

public sealed class JinjaBool : JinjaValue
{
    public static readonly JinjaBool True = new(true);
    public static readonly JinjaBool False = new(false);
    private JinjaBool(bool value) => Value = value;
    public bool Value { get; }
    public override string TypeName => "boolean";
    public override bool IsTruthy => Value;
    public override string Print() => Value ? "true" : "false";
}

public sealed class JinjaInt(long value) : JinjaValue
{
    public long Value { get; } = value;
    public override string TypeName => "integer";
    public override bool IsTruthy => Value != 0;
    public override string Print() => Value.ToString(CultureInfo.InvariantCulture);
}

public sealed class JinjaFloat(double value) : JinjaValue
{
    public double Value { get; } = value;
    public override string TypeName => "float";
    public override bool IsTruthy => Value != 0 && !double.IsNaN(Value);

    /// <summary>Python's spelling of a whole float ("2.0"); JavaScript's shortest round trip otherwise.</summary>
    public override string Print() => double.IsNegative(Value) && Value == 0 ? "-0.0"
        : Value % 1 == 0 && Math.Abs(Value) < 1e21 ? Value.ToString("F1", CultureInfo.InvariantCulture) : JsNumber(Value);

    public override string Concat() => JsNumber(Value);

    /// <summary>A number as JavaScript's String(n) writes it (what JSON.stringify writes too).</summary>
    internal static string JsNumber(double v)
    {
        if (double.IsNaN(v)) return "NaN";
        if (double.IsInfinity(v)) return v > 0 ? "Infinity" : "-Infinity";
        if (v == 0) return "0";
        string r = v.ToString("R", CultureInfo.InvariantCulture);
        int e = r.IndexOf('E');
        if (e < 0) return r;
        // .NET writes 1E+21 / 1E-07; JavaScript writes 1e+21 and, below 1e-6, 1e-7.
        string mantissa = r[..e];
        int exponent = int.Parse(r.AsSpan(e + 1), CultureInfo.InvariantCulture);
        if (exponent is >= -6 and < 21)
        {
            bool negative = mantissa.StartsWith('-');
            string digits = mantissa.TrimStart('-').Replace(".", "");
            int point = 1 + exponent; // digits before the decimal point
            string plain = point <= 0 ? "0." + new string('0', -point) + digits
                : point >= digits.Length ? digits + new string('0', point - digits.Length)
                : digits[..point] + "." + digits[point..];
            return negative ? "-" + plain : plain;
        }
        return $"{mantissa}e{(exponent > 0 ? "+" : "-")}{Math.Abs(exponent)}";
    }
}

public sealed class JinjaString(string value) : JinjaValue
{
    public static readonly JinjaString Empty = new("");
    public string Value { get; } = value;
    public override string TypeName => "string";
    public override bool IsTruthy => Value.Length > 0;
    public override string Print() => Value;
}

/// <summary>A list, or a tuple (<see cref="IsTuple"/>; the same in every other way).</summary>
public sealed class JinjaList(List<JinjaValue> items, bool isTuple = false) : JinjaValue
{
    public List<JinjaValue> Items { get; } = items;
    public bool IsTuple { get; } = isTuple;
    public override string TypeName => IsTuple ? "tuple" : "list";
    public override bool IsTruthy => Items.Count > 0;
    public override string Print() => JinjaJson.Write(this, new JinjaJson.Options(), undefinedAsNull: false);
}

/// <summary>A dict; keys keep their insertion order (tool schemas print in the order the client sent them).</summary>
public sealed class JinjaDict(OrderedDictionary<string, JinjaValue>? entries = null) : JinjaValue
{
    public OrderedDictionary<string, JinjaValue> Entries { get; } = entries ?? new OrderedDictionary<string, JinjaValue>(StringComparer.Ordinal);
    public override string TypeName => "dict";
    public override bool IsTruthy => Entries.Count > 0;
    public override string Print() => JinjaJson.Write(this, new JinjaJson.Options(), undefinedAsNull: false);

    public JinjaValue Get(string key) => Entries.TryGetValue(key, out var v) ? v : JinjaUndefined.Instance;
}

/// <summary><c>namespace(...)</c>: attributes a loop body may set and the code after the loop read.</summary>
public sealed class JinjaNamespace(OrderedDictionary<string, JinjaValue> entries) : JinjaValue
{
    public OrderedDictionary<string, JinjaValue> Entries { get; } = entries;
    public override string TypeName => "namespace";
    public override string Print() => JinjaJson.Write(this, new JinjaJson.Options(), undefinedAsNull: false);
}

/// <summary>A callable: a macro, <c>caller</c>, a global such as <c>range</c>, or a bound method such as <c>"a".upper</c>.</summary>
public sealed class JinjaFunction(Func<JinjaArguments, JinjaValue> invoke) : JinjaValue
{
    public Func<JinjaArguments, JinjaValue> Invoke { get; } = invoke;
    public override string TypeName => "function";
    public override string Print() => "";
}

/// <summary>A call's arguments: positional, then keyword.</summary>
public sealed class JinjaArguments(List<JinjaValue> positional, OrderedDictionary<string, JinjaValue> keywords)
{
    public static readonly JinjaArguments None = new([], new OrderedDictionary<string, JinjaValue>());

    public List<JinjaValue> Positional { get; } = positional;
    public OrderedDictionary<string, JinjaValue> Keywords { get; } = keywords;

    /// <summary>The body of the <c>{% call %}</c> block a macro is called from, as its <c>caller()</c>.</summary>
    public JinjaFunction? Caller { get; init; }

    /// <summary>The argument at <paramref name="index"/>, else the keyword <paramref name="name"/>, else null.</summary>
    public JinjaValue? Get(int index, string name) =>
        index < Positional.Count ? Positional[index] : Keywords.TryGetValue(name, out var v) ? v : null;
}
