using System.Text;

namespace Tandem.Engine.Chat.Jinja;

/// <summary>
/// Walks the syntax tree and writes the output. Semantics follow @huggingface/jinja (itself Jinja as transformers
/// runs chat templates), where Python's Jinja and that implementation agree; where @huggingface/jinja refuses
/// something Jinja allows (string methods' arguments, <c>map('filter')</c>, tests with arguments), Jinja's
/// meaning is taken.
/// </summary>
internal sealed class JinjaInterpreter
{
    /// <summary>Deepest macro / call nesting: a template that recurses without end fails cleanly instead of overflowing the stack.</summary>
    private const int MaxCallDepth = 200;

    private int _callDepth;

    private sealed class BreakSignal : Exception;
    private sealed class ContinueSignal : Exception;

    public string Render(List<JinjaNode> program, JinjaScope scope)
    {
        var output = new StringBuilder();
        RenderBlock(program, scope, output);
        return output.ToString();
    }

    private void RenderBlock(List<JinjaNode> nodes, JinjaScope scope, StringBuilder output)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case TextNode t:
                    output.Append(t.Text);
                    break;
                case CommentNode:
                    break;
                case IfNode n:
                    RenderBlock(Evaluate(n.Test, scope).IsTruthy ? n.Body : n.Alternate, scope, output);
                    break;
                case ForNode n:
                    RenderFor(n, scope, output);
                    break;
                case SetNode n:
                    ExecuteSet(n, scope);
                    break;
                case MacroNode n:
                    DefineMacro(n, scope);
                    break;
                case BreakNode:
                    throw new BreakSignal();
                case ContinueNode:
                    throw new ContinueSignal();
                default:
                    var value = Evaluate(node, scope);
                    if (value is not (JinjaNone or JinjaUndefined))
                        output.Append(value.Print());
                    break;
            }
        }
    }

    private string RenderToString(List<JinjaNode> nodes, JinjaScope scope)
    {
        var sb = new StringBuilder();
        RenderBlock(nodes, scope, sb);
        return sb.ToString();
    }

    private void RenderFor(ForNode node, JinjaScope outer, StringBuilder output)
    {
        var scope = new JinjaScope(outer);
        JinjaNode? filter = null;
        JinjaValue iterable;
        if (node.Iterable is SelectNode select)
        {
            iterable = Evaluate(select.Value, scope);
            filter = select.Test;
        }
        else
        {
            iterable = Evaluate(node.Iterable, scope);
        }

        List<JinjaValue> candidates = iterable switch
        {
            JinjaList l => l.Items,
            JinjaDict d => d.Entries.Keys.Select(k => (JinjaValue)new JinjaString(k)).ToList(),
            JinjaString s => s.Value.Select(c => (JinjaValue)new JinjaString(c.ToString())).ToList(),
            JinjaUndefined => [],
            _ => throw new JinjaException($"cannot loop over a {iterable.TypeName}"),
        };

        var items = new List<JinjaValue>(candidates.Count);
        foreach (var item in candidates)
        {
            if (filter is not null)
            {
                var test = new JinjaScope(scope);
                Bind(node.LoopVariable, item, test);
                if (!Evaluate(filter, test).IsTruthy)
                    continue;
            }
            items.Add(item);
        }

        bool iterated = false;
        for (int i = 0; i < items.Count; i++)
        {
            scope.Set("loop", LoopObject(items, i));
            Bind(node.LoopVariable, items[i], scope);
            iterated = true;
            try
            {
                RenderBlock(node.Body, scope, output);
            }
            catch (ContinueSignal)
            {
            }
            catch (BreakSignal)
            {
                break;
            }
        }
        if (!iterated)
            RenderBlock(node.Else, scope, output);
    }

    private static JinjaDict LoopObject(List<JinjaValue> items, int i)
    {
        int n = items.Count;
        var loop = new JinjaDict();
        loop.Entries["index"] = new JinjaInt(i + 1);
        loop.Entries["index0"] = new JinjaInt(i);
        loop.Entries["revindex"] = new JinjaInt(n - i);
        loop.Entries["revindex0"] = new JinjaInt(n - i - 1);
        loop.Entries["first"] = JinjaValue.From(i == 0);
        loop.Entries["last"] = JinjaValue.From(i == n - 1);
        loop.Entries["length"] = new JinjaInt(n);
        loop.Entries["previtem"] = i > 0 ? items[i - 1] : JinjaUndefined.Instance;
        loop.Entries["nextitem"] = i < n - 1 ? items[i + 1] : JinjaUndefined.Instance;
        loop.Entries["cycle"] = new JinjaFunction(args => args.Positional.Count == 0
            ? throw new JinjaException("loop.cycle() needs at least one value")
            : args.Positional[i % args.Positional.Count]);
        return loop;
    }

    private static void Bind(JinjaNode target, JinjaValue value, JinjaScope scope)
    {
        switch (target)
        {
            case IdentifierNode id:
                scope.Set(id.Name, value);
                break;
            case TupleNode tuple:
                if (value is not JinjaList list)
                    throw new JinjaException($"cannot unpack a {value.TypeName}");
                if (list.Items.Count != tuple.Items.Count)
                    throw new JinjaException($"too {(tuple.Items.Count > list.Items.Count ? "few" : "many")} values to unpack (expected {tuple.Items.Count}, got {list.Items.Count})");
                for (int k = 0; k < tuple.Items.Count; k++)
                {
                    if (tuple.Items[k] is not IdentifierNode name)
                        throw new JinjaException("can only unpack into names");
                    scope.Set(name.Name, list.Items[k]);
                }
                break;
            default:
                throw new JinjaException("can only assign to a name, a tuple of names or a namespace attribute");
        }
    }

    private void ExecuteSet(SetNode node, JinjaScope scope)
    {
        var value = node.Value is not null ? Evaluate(node.Value, scope) : new JinjaString(RenderToString(node.Body, scope));
        if (node.Target is MemberNode member)
        {
            var target = Evaluate(member.Target, scope);
            if (target is not JinjaNamespace ns)
                throw new JinjaException("only a namespace's attributes can be set ({% set ns.x = ... %})");
            if (member.Property is not IdentifierNode name || member.Computed)
                throw new JinjaException("a namespace attribute is set by name");
            ns.Entries[name.Name] = value;
            return;
        }
        Bind(node.Target, value, scope);
    }

    private void DefineMacro(MacroNode node, JinjaScope definedIn)
    {
        definedIn.Set(node.Name, new JinjaFunction(args =>
        {
            var scope = new JinjaScope(definedIn);
            scope.Set("caller", args.Caller ?? (JinjaValue)JinjaUndefined.Instance);
            BindParameters(node.Name, node.Parameters, args, scope);
            return new JinjaString(RenderGuarded(node.Body, scope));
        }));
    }

    private string RenderGuarded(List<JinjaNode> body, JinjaScope scope)
    {
        if (++_callDepth > MaxCallDepth)
            throw new JinjaException($"macro calls nested more than {MaxCallDepth} deep (endless recursion?)");
        try
        {
            return RenderToString(body, scope);
        }
        finally
        {
            _callDepth--;
        }
    }

    /// <summary>Binds a macro's (or a call block's) parameters: positional, then by keyword, then defaults; the rest go to varargs / kwargs.</summary>
    private void BindParameters(string name, List<JinjaNode> parameters, JinjaArguments args, JinjaScope scope)
    {
        var keywords = new OrderedDictionary<string, JinjaValue>(args.Keywords);
        var defaults = new List<(string, JinjaNode)>();
        for (int i = 0; i < parameters.Count; i++)
        {
            var (parameter, fallback) = parameters[i] switch
            {
                IdentifierNode id => (id.Name, (JinjaNode?)null),
                KeywordArgumentNode kw => (kw.Name, kw.Value),
                _ => throw new JinjaException($"bad parameter in macro {name}"),
            };
            JinjaValue? value = i < args.Positional.Count ? args.Positional[i] : null;
            if (value is null && keywords.Remove(parameter, out var byName))
                value = byName;
            if (value is null && fallback is not null)
                defaults.Add((parameter, fallback));
            scope.Set(parameter, value ?? JinjaUndefined.Instance);
        }
        scope.Set("varargs", new JinjaList(args.Positional.Skip(parameters.Count).ToList()));
        scope.Set("kwargs", new JinjaDict(keywords));
        foreach (var (parameter, fallback) in defaults)
            scope.Set(parameter, Evaluate(fallback, scope));
    }

    public JinjaValue Evaluate(JinjaNode node, JinjaScope scope)
    {
        System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
        switch (node)
        {
            case StringNode s: return new JinjaString(s.Value);
            case IntegerNode i: return new JinjaInt(i.Value);
            case FloatNode f: return new JinjaFloat(f.Value);
            case IdentifierNode id: return scope.Lookup(id.Name);
            case ListNode l: return new JinjaList(l.Items.Select(x => Evaluate(x, scope)).ToList());
            case TupleNode t: return new JinjaList(t.Items.Select(x => Evaluate(x, scope)).ToList(), isTuple: true);
            case DictNode d:
            {
                var dict = new JinjaDict();
                foreach (var (k, v) in d.Entries)
                {
                    if (Evaluate(k, scope) is not JinjaString key)
                        throw new JinjaException("dict keys must be strings");
                    dict.Entries[key.Value] = Evaluate(v, scope);
                }
                return dict;
            }
            case BinaryNode b: return EvaluateBinary(b, scope);
            case UnaryNode u: return EvaluateUnary(u, scope);
            case MemberNode m: return EvaluateMember(m, scope);
            case CallNode c:
            {
                var args = EvaluateArguments(c.Arguments, scope);
                var callee = Evaluate(c.Callee, scope);
                if (callee is not JinjaFunction fn)
                    throw new JinjaException($"{Describe(c.Callee)} is not callable (it is {callee.TypeName})");
                return fn.Invoke(args);
            }
            case FilterNode f: return ApplyFilter(Evaluate(f.Operand, scope), f.Filter, scope);
            case TestNode t:
            {
                var operand = Evaluate(t.Operand, scope);
                var args = EvaluateArguments(t.Arguments, scope);
                bool result = JinjaTests.Run(t.Test, operand, args.Positional);
                return JinjaValue.From(t.Negate ? !result : result);
            }
            case TernaryNode t: return Evaluate(t.Condition, scope).IsTruthy ? Evaluate(t.IfTrue, scope) : Evaluate(t.IfFalse, scope);
            case SelectNode s: return Evaluate(s.Test, scope).IsTruthy ? Evaluate(s.Value, scope) : JinjaUndefined.Instance;
            case IfNode or ForNode or SetNode or MacroNode or TextNode or CommentNode or BreakNode or ContinueNode:
                return new JinjaString(RenderToString([node], scope));
            case CallBlockNode c: return EvaluateCallBlock(c, scope);
            case FilterBlockNode f: return ApplyFilter(new JinjaString(RenderToString(f.Body, scope)), f.Filter, scope);
            default:
                throw new JinjaException($"cannot evaluate {node.GetType().Name}");
        }
    }

    private JinjaValue EvaluateCallBlock(CallBlockNode node, JinjaScope scope)
    {
        var caller = new JinjaFunction(callerArgs =>
        {
            var body = new JinjaScope(scope);
            BindParameters("caller", node.CallerParameters ?? [], callerArgs, body);
            return new JinjaString(RenderGuarded(node.Body, body));
        });
        var args = EvaluateArguments(node.Call.Arguments, scope);
        if (Evaluate(node.Call.Callee, scope) is not JinjaFunction fn)
            throw new JinjaException($"{Describe(node.Call.Callee)} is not a macro");
        return fn.Invoke(new JinjaArguments(args.Positional, args.Keywords) { Caller = caller });
    }

    private JinjaArguments EvaluateArguments(List<JinjaNode> nodes, JinjaScope scope)
    {
        if (nodes.Count == 0)
            return JinjaArguments.None;
        var positional = new List<JinjaValue>();
        var keywords = new OrderedDictionary<string, JinjaValue>(StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            switch (node)
            {
                case KeywordArgumentNode kw:
                    if (!keywords.TryAdd(kw.Name, Evaluate(kw.Value, scope)))
                        throw new JinjaException($"keyword argument '{kw.Name}' given twice");
                    break;
                case SpreadNode s:
                    if (Evaluate(s.Value, scope) is not JinjaList list)
                        throw new JinjaException("*args needs a list");
                    positional.AddRange(list.Items);
                    break;
                case KeywordSpreadNode s:
                    if (Evaluate(s.Value, scope) is not JinjaDict dict)
                        throw new JinjaException("**kwargs needs a dict");
                    foreach (var (k, v) in dict.Entries)
                        if (!keywords.TryAdd(k, v))
                            throw new JinjaException($"keyword argument '{k}' given twice");
                    break;
                default:
                    positional.Add(Evaluate(node, scope));
                    break;
            }
        }
        return new JinjaArguments(positional, keywords);
    }

    private JinjaValue ApplyFilter(JinjaValue operand, JinjaNode filter, JinjaScope scope)
    {
        var (name, args) = filter switch
        {
            IdentifierNode id => (id.Name, JinjaArguments.None),
            CallNode { Callee: IdentifierNode id } call => (id.Name, EvaluateArguments(call.Arguments, scope)),
            _ => throw new JinjaException("expected a filter name"),
        };
        return JinjaFilters.Apply(name, operand, args);
    }

    private JinjaValue EvaluateMember(MemberNode node, JinjaScope scope)
    {
        var target = Evaluate(node.Target, scope);
        if (node.Property is SliceNode slice)
            return Slice(target, slice, scope);
        JinjaValue key = !node.Computed
            ? node.Property switch
            {
                IdentifierNode id => new JinjaString(id.Name),
                IntegerNode i => new JinjaInt(i.Value),
                _ => throw new JinjaException("expected a name after '.'"),
            }
            : Evaluate(node.Property, scope);
        return JinjaMembers.Get(target, key);
    }

    private JinjaValue Slice(JinjaValue target, SliceNode slice, JinjaScope scope)
    {
        long? Part(JinjaNode? n)
        {
            if (n is null) return null;
            return Evaluate(n, scope) switch
            {
                JinjaInt i => (long?)i.Value,
                JinjaUndefined or JinjaNone => null,
                var v => throw new JinjaException($"slice indices must be integers, not {v.TypeName}"),
            };
        }
        long? start = Part(slice.Start), stop = Part(slice.Stop), step = Part(slice.Step);
        return target switch
        {
            JinjaList l => new JinjaList(JinjaSlicing.Slice(l.Items, start, stop, step)),
            JinjaString s => new JinjaString(string.Concat(JinjaSlicing.Slice(s.Value.ToList(), start, stop, step))),
            _ => throw new JinjaException($"cannot slice a {target.TypeName}"),
        };
    }

    private JinjaValue EvaluateUnary(UnaryNode node, JinjaScope scope)
    {
        var operand = Evaluate(node.Operand, scope);
        if (node.Operator == "not")
            return JinjaValue.From(!operand.IsTruthy);
        int sign = node.Operator == "-" ? -1 : 1;
        return operand switch
        {
            JinjaInt i => new JinjaInt(sign * i.Value),
            JinjaFloat f => new JinjaFloat(sign * f.Value),
            JinjaBool b => new JinjaInt(sign * (b.Value ? 1 : 0)),
            _ => throw new JinjaException($"unary '{node.Operator}' does not apply to a {operand.TypeName}"),
        };
    }

    private JinjaValue EvaluateBinary(BinaryNode node, JinjaScope scope)
    {
        var left = Evaluate(node.Left, scope);
        switch (node.Operator)
        {
            case "and": return left.IsTruthy ? Evaluate(node.Right, scope) : left;
            case "or": return left.IsTruthy ? left : Evaluate(node.Right, scope);
        }
        var right = Evaluate(node.Right, scope);
        return JinjaOperators.Binary(node.Operator, left, right);
    }

    private static string Describe(JinjaNode node) => node switch
    {
        IdentifierNode id => $"'{id.Name}'",
        MemberNode { Property: IdentifierNode p } => $"'.{p.Name}'",
        _ => "the expression",
    };
}
