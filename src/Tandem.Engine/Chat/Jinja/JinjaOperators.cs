namespace Tandem.Engine.Chat.Jinja;

/// <summary>Binary operators: arithmetic, comparison, membership and concatenation, with Jinja's type rules.</summary>
internal static class JinjaOperators
{
    public static JinjaValue Binary(string op, JinjaValue left, JinjaValue right)
    {
        switch (op)
        {
            case "==": return JinjaValue.From(AreEqual(left, right));
            case "!=": return JinjaValue.From(!AreEqual(left, right));
            case "in": return JinjaValue.From(Contains(right, left));
            case "not in": return JinjaValue.From(!Contains(right, left));
            case "~": return new JinjaString(left.Concat() + right.Concat());
        }

        if (left is JinjaInt or JinjaFloat && right is JinjaInt or JinjaFloat)
            return Arithmetic(op, left, right);
        if (op == "**" && IsNumeric(left) && IsNumeric(right))
            return Arithmetic(op, BoolAsInt(left), BoolAsInt(right));
        if (left is JinjaUndefined || right is JinjaUndefined)
            throw new JinjaException($"cannot apply '{op}' to an undefined value");
        if (left is JinjaNone || right is JinjaNone)
            throw new JinjaException($"cannot apply '{op}' to none");

        switch (op)
        {
            case "+" when left is JinjaList a && right is JinjaList b:
                return new JinjaList([.. a.Items, .. b.Items]);
            case "+" when left is JinjaString || right is JinjaString:
                return new JinjaString(left.Concat() + right.Concat());
            case "*" when left is JinjaString s && right is JinjaInt n:
                return new JinjaString(string.Concat(Enumerable.Repeat(s.Value, (int)Math.Max(0, n.Value))));
            case "<" or ">" or "<=" or ">=" when left is JinjaString a && right is JinjaString b:
            {
                int c = string.CompareOrdinal(a.Value, b.Value);
                return JinjaValue.From(op switch { "<" => c < 0, ">" => c > 0, "<=" => c <= 0, _ => c >= 0 });
            }
            case "<" or ">" or "<=" or ">=" when IsNumeric(left) && IsNumeric(right):
            {
                double a = ToNumber(left), b = ToNumber(right);
                return JinjaValue.From(op switch { "<" => a < b, ">" => a > b, "<=" => a <= b, _ => a >= b });
            }
        }
        throw new JinjaException($"cannot apply '{op}' to a {left.TypeName} and a {right.TypeName}");
    }

    private static JinjaValue Arithmetic(string op, JinjaValue left, JinjaValue right)
    {
        if (left is JinjaInt li && right is JinjaInt ri)
        {
            long a = li.Value, b = ri.Value;
            switch (op)
            {
                case "+": return new JinjaInt(a + b);
                case "-": return new JinjaInt(a - b);
                case "*": return new JinjaInt(a * b);
                case "/": return b == 0 ? throw new JinjaException("division by zero") : new JinjaFloat((double)a / b);
                case "//": return b == 0 ? throw new JinjaException("division by zero") : new JinjaInt((long)Math.Floor((double)a / b));
                case "%": return b == 0 ? throw new JinjaException("modulo by zero") : new JinjaInt(((a % b) + b) % b);
                case "**":
                    if (b >= 0) return new JinjaInt((long)Math.Pow(a, b));
                    return new JinjaFloat(Math.Pow(a, b));
            }
        }
        double x = ToNumber(left), y = ToNumber(right);
        return op switch
        {
            "+" => new JinjaFloat(x + y),
            "-" => new JinjaFloat(x - y),
            "*" => new JinjaFloat(x * y),
            "/" => y == 0 ? throw new JinjaException("division by zero") : new JinjaFloat(x / y),
            "//" => y == 0 ? throw new JinjaException("division by zero") : new JinjaFloat(Math.Floor(x / y)),
            "%" => y == 0 ? throw new JinjaException("modulo by zero") : new JinjaFloat(x - y * Math.Floor(x / y)),
            "**" => new JinjaFloat(Math.Pow(x, y)),
            "<" => JinjaValue.From(x < y),
            ">" => JinjaValue.From(x > y),
            "<=" => JinjaValue.From(x <= y),
            ">=" => JinjaValue.From(x >= y),
            _ => throw new JinjaException($"unknown operator '{op}'"),
        };
    }

    private static JinjaValue BoolAsInt(JinjaValue v) => v is JinjaBool b ? new JinjaInt(b.Value ? 1 : 0) : v;

    public static bool IsNumeric(JinjaValue v) => v is JinjaInt or JinjaFloat or JinjaBool;

    public static double ToNumber(JinjaValue v) => v switch
    {
        JinjaInt i => i.Value,
        JinjaFloat f => f.Value,
        JinjaBool b => b.Value ? 1 : 0,
        _ => throw new JinjaException($"expected a number, got a {v.TypeName}"),
    };

    /// <summary>Equality: numbers by value (true == 1), strings by content, none and undefined equal each other, lists and dicts item by item.</summary>
    public static bool AreEqual(JinjaValue a, JinjaValue b)
    {
        if (ReferenceEquals(a, b)) return true;
        if (IsNumeric(a) && IsNumeric(b)) return ToNumber(a) == ToNumber(b);
        return (a, b) switch
        {
            (JinjaString x, JinjaString y) => x.Value == y.Value,
            (JinjaNone or JinjaUndefined, JinjaNone or JinjaUndefined) => true,
            (JinjaList x, JinjaList y) => x.Items.Count == y.Items.Count && x.Items.Zip(y.Items).All(p => AreEqual(p.First, p.Second)),
            (JinjaDict x, JinjaDict y) => x.Entries.Count == y.Entries.Count
                && x.Entries.All(p => y.Entries.TryGetValue(p.Key, out var v) && AreEqual(p.Value, v)),
            _ => false,
        };
    }

    private static bool Contains(JinjaValue container, JinjaValue item) => container switch
    {
        JinjaString s when item is JinjaString sub => s.Value.Contains(sub.Value, StringComparison.Ordinal),
        JinjaList l => l.Items.Any(x => AreEqual(x, item)),
        JinjaDict d when item is JinjaString key => d.Entries.ContainsKey(key.Value),
        JinjaDict => false,
        JinjaNamespace ns when item is JinjaString key => ns.Entries.ContainsKey(key.Value),
        JinjaUndefined => false,
        _ => throw new JinjaException($"'in' does not apply to a {item.TypeName} and a {container.TypeName}"),
    };
}
