namespace Tandem.Engine.Chat.Jinja;

/// <summary>
/// Variables visible at a point of a render. A <c>for</c> body and a macro call get a scope of their own, so a
/// <c>set</c> inside a loop is gone after it (Jinja's rule, which is why templates use <c>namespace</c>).
/// </summary>
internal sealed class JinjaScope(JinjaScope? parent)
{
    private readonly Dictionary<string, JinjaValue> _variables = new(StringComparer.Ordinal);

    public JinjaScope? Parent { get; } = parent;

    /// <summary>Set when this scope is the one a <c>{% call %}</c> block calls its macro in (it holds <c>caller</c>).</summary>
    public bool IsCallBlock { get; init; }

    public void Set(string name, JinjaValue value) => _variables[name] = value;

    public bool TryGetLocal(string name, out JinjaValue value) => _variables.TryGetValue(name, out value!);

    public JinjaValue Lookup(string name)
    {
        for (var s = this; s is not null; s = s.Parent)
            if (s._variables.TryGetValue(name, out var v))
                return v;
        return JinjaUndefined.Instance;
    }
}
