namespace Tandem.Engine.Chat.Jinja;

// The syntax tree of a template: statements (text, output, control flow) and the expressions inside them.

internal abstract record JinjaNode;

internal sealed record TextNode(string Text) : JinjaNode;
internal sealed record CommentNode : JinjaNode;
internal sealed record IfNode(JinjaNode Test, List<JinjaNode> Body, List<JinjaNode> Alternate) : JinjaNode;
internal sealed record ForNode(JinjaNode LoopVariable, JinjaNode Iterable, List<JinjaNode> Body, List<JinjaNode> Else) : JinjaNode;
internal sealed record BreakNode : JinjaNode;
internal sealed record ContinueNode : JinjaNode;
/// <summary><c>{% set a = v %}</c> (Value set) or <c>{% set a %}body{% endset %}</c>.</summary>
internal sealed record SetNode(JinjaNode Target, JinjaNode? Value, List<JinjaNode> Body) : JinjaNode;
internal sealed record MacroNode(string Name, List<JinjaNode> Parameters, List<JinjaNode> Body) : JinjaNode;
/// <summary><c>{% call(args) macro(...) %}body{% endcall %}</c>: the body is the macro's <c>caller()</c>.</summary>
internal sealed record CallBlockNode(CallNode Call, List<JinjaNode>? CallerParameters, List<JinjaNode> Body) : JinjaNode;
internal sealed record FilterBlockNode(JinjaNode Filter, List<JinjaNode> Body) : JinjaNode;

internal sealed record IdentifierNode(string Name) : JinjaNode;
internal sealed record IntegerNode(long Value) : JinjaNode;
internal sealed record FloatNode(double Value) : JinjaNode;
internal sealed record StringNode(string Value) : JinjaNode;
internal sealed record ListNode(List<JinjaNode> Items) : JinjaNode;
internal sealed record TupleNode(List<JinjaNode> Items) : JinjaNode;
internal sealed record DictNode(List<(JinjaNode Key, JinjaNode Value)> Entries) : JinjaNode;
internal sealed record MemberNode(JinjaNode Target, JinjaNode Property, bool Computed) : JinjaNode;
internal sealed record SliceNode(JinjaNode? Start, JinjaNode? Stop, JinjaNode? Step) : JinjaNode;
internal sealed record CallNode(JinjaNode Callee, List<JinjaNode> Arguments) : JinjaNode;
internal sealed record KeywordArgumentNode(string Name, JinjaNode Value) : JinjaNode;
internal sealed record SpreadNode(JinjaNode Value) : JinjaNode;
internal sealed record KeywordSpreadNode(JinjaNode Value) : JinjaNode;
internal sealed record BinaryNode(string Operator, JinjaNode Left, JinjaNode Right) : JinjaNode;
internal sealed record UnaryNode(string Operator, JinjaNode Operand) : JinjaNode;
/// <summary><c>value | name</c> or <c>value | name(args)</c>: Filter is an <see cref="IdentifierNode"/> or a <see cref="CallNode"/>.</summary>
internal sealed record FilterNode(JinjaNode Operand, JinjaNode Filter) : JinjaNode;
internal sealed record TestNode(JinjaNode Operand, bool Negate, string Test, List<JinjaNode> Arguments) : JinjaNode;
internal sealed record TernaryNode(JinjaNode Condition, JinjaNode IfTrue, JinjaNode IfFalse) : JinjaNode;
/// <summary><c>value if test</c> without an else: undefined when the test fails (and a loop filter in <c>for</c>).</summary>
internal sealed record SelectNode(JinjaNode Value, JinjaNode Test) : JinjaNode;
