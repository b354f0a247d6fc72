namespace Tandem.Engine.Chat.Jinja;

/// <summary>The tests of <c>value is name</c> / <c>value is not name(args)</c>.</summary>
internal static class JinjaTests
{
    public static bool Run(string name, JinjaValue v, IReadOnlyList<JinjaValue> args)
    {
        JinjaValue Arg() => args.Count > 0 ? args[0] : throw new JinjaException($"test '{name}' needs an argument");
        return name switch
        {
            "defined" => v is not JinjaUndefined,
            "undefined" => v is JinjaUndefined,
            "none" => v is JinjaNone,
            "boolean" => v is JinjaBool,
            "true" => v is JinjaBool { Value: true },
            "false" => v is JinjaBool { Value: false },
            "string" => v is JinjaString,
            "number" => v is JinjaInt or JinjaFloat,
            "integer" => v is JinjaInt,
            "float" => v is JinjaFloat,
            "mapping" => v is JinjaDict,
            "sequence" => v is JinjaList or JinjaDict or JinjaString,
            "iterable" => v is JinjaList or JinjaDict or JinjaString,
            "callable" => v is JinjaFunction,
            "odd" => v is JinjaInt o ? o.Value % 2 != 0 : throw new JinjaException($"test 'odd' needs an integer, not a {v.TypeName}"),
            "even" => v is JinjaInt e ? e.Value % 2 == 0 : throw new JinjaException($"test 'even' needs an integer, not a {v.TypeName}"),
            "divisibleby" => v is JinjaInt d && Arg() is JinjaInt by && by.Value != 0 && d.Value % by.Value == 0,
            "lower" => v is JinjaString l && l.Value == l.Value.ToLowerInvariant(),
            "upper" => v is JinjaString u && u.Value == u.Value.ToUpperInvariant(),
            "equalto" or "eq" or "==" => JinjaOperators.AreEqual(v, Arg()),
            "ne" or "!=" => !JinjaOperators.AreEqual(v, Arg()),
            "sameas" => ReferenceEquals(v, Arg()) || (v is JinjaBool or JinjaNone && JinjaOperators.AreEqual(v, Arg())),
            "in" => JinjaOperators.Binary("in", v, Arg()).IsTruthy,
            "gt" or ">" => JinjaOperators.Binary(">", v, Arg()).IsTruthy,
            "ge" or ">=" => JinjaOperators.Binary(">=", v, Arg()).IsTruthy,
            "lt" or "<" => JinjaOperators.Binary("<", v, Arg()).IsTruthy,
            "le" or "<=" => JinjaOperators.Binary("<=", v, Arg()).IsTruthy,
            _ => throw new JinjaException($"unknown test '{name}'"),
        };
    }
}
