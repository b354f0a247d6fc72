using System.Globalization;

namespace Tandem.Engine.Chat.Jinja;

/// <summary>
/// Builds the syntax tree from tokens. Operator precedence, from loosest: <c>x if c else y</c>, <c>or</c>,
/// <c>and</c>, <c>not</c>, comparisons and <c>in</c>, <c>+ - ~</c>, <c>* / // %</c>, <c>**</c>, <c>is</c> tests,
/// <c>|</c> filters, unary signs, then calls, attributes, subscripts and slices — @huggingface/jinja's grammar.
/// </summary>
internal sealed class JinjaParser
{
    private readonly List<JinjaToken> _tokens;
    private int _current;

    private JinjaParser(List<JinjaToken> tokens) => _tokens = tokens;

    public static List<JinjaNode> Parse(List<JinjaToken> tokens)
    {
        var parser = new JinjaParser(tokens);
        var program = new List<JinjaNode>();
        while (parser._current < tokens.Count)
            program.Add(parser.ParseAny());
        return program;
    }

    private JinjaToken Peek(int offset = 0) => _current + offset < _tokens.Count
        ? _tokens[_current + offset]
        : throw new JinjaException("unexpected end of template (a block is not closed?)");

    private bool Is(JinjaTokenType type) => _current < _tokens.Count && _tokens[_current].Type == type;

    private JinjaToken Expect(JinjaTokenType type, string what)
    {
        var token = Peek();
        if (token.Type != type)
            throw new JinjaException($"expected {what}, found {token}");
        _current++;
        return token;
    }

    private bool IsIdentifier(string name, int offset = 0) =>
        _current + offset < _tokens.Count && _tokens[_current + offset].Type == JinjaTokenType.Identifier && _tokens[_current + offset].Value == name;

    private bool IsStatement(params string[] names) =>
        _current + 1 < _tokens.Count && _tokens[_current].Type == JinjaTokenType.OpenStatement
        && _tokens[_current + 1].Type == JinjaTokenType.Identifier && names.Contains(_tokens[_current + 1].Value);

    private void ExpectIdentifier(string name)
    {
        if (!IsIdentifier(name))
            throw new JinjaException($"expected '{name}', found {Peek()}");
        _current++;
    }

    private void ExpectEnd(string name)
    {
        Expect(JinjaTokenType.OpenStatement, "{%");
        ExpectIdentifier(name);
        Expect(JinjaTokenType.CloseStatement, "%}");
    }

    private List<JinjaNode> ParseUntil(params string[] names)
    {
        var body = new List<JinjaNode>();
        while (!IsStatement(names))
        {
            if (_current >= _tokens.Count)
                throw new JinjaException($"unexpected end of template: expected {{% {string.Join(" / ", names)} %}}");
            body.Add(ParseAny());
        }
        return body;
    }

    private JinjaNode ParseAny()
    {
        var token = Peek();
        switch (token.Type)
        {
            case JinjaTokenType.Comment:
                _current++;
                return new CommentNode();
            case JinjaTokenType.Text:
                _current++;
                return new TextNode(token.Value);
            case JinjaTokenType.OpenStatement:
                return ParseStatement();
            case JinjaTokenType.OpenExpression:
                _current++;
                var expression = ParseExpression();
                Expect(JinjaTokenType.CloseExpression, "}}");
                return expression;
            default:
                throw new JinjaException($"unexpected {token}");
        }
    }

    private JinjaNode ParseStatement()
    {
        Expect(JinjaTokenType.OpenStatement, "{%");
        var nameToken = Peek();
        if (nameToken.Type != JinjaTokenType.Identifier)
            throw new JinjaException($"expected a statement name after {{%, found {nameToken}");
        _current++;
        switch (nameToken.Value)
        {
            case "set":
                return ParseSet();
            case "if":
            {
                var node = ParseIf();
                ExpectEnd("endif");
                return node;
            }
            case "for":
            {
                var node = ParseFor();
                ExpectEnd("endfor");
                return node;
            }
            case "macro":
            {
                var name = ParsePrimary();
                if (name is not IdentifierNode id)
                    throw new JinjaException("expected a macro name");
                var parameters = ParseArguments(parameters: true);
                Expect(JinjaTokenType.CloseStatement, "%}");
                var body = ParseUntil("endmacro");
                ExpectEnd("endmacro");
                return new MacroNode(id.Name, parameters, body);
            }
            case "call":
            {
                List<JinjaNode>? callerParameters = Is(JinjaTokenType.OpenParen) ? ParseArguments(parameters: true) : null;
                var callee = ParsePrimary();
                if (callee is not IdentifierNode)
                    throw new JinjaException("expected a macro name after {% call");
                var args = ParseArguments(parameters: false);
                Expect(JinjaTokenType.CloseStatement, "%}");
                var body = ParseUntil("endcall");
                ExpectEnd("endcall");
                return new CallBlockNode(new CallNode(callee, args), callerParameters, body);
            }
            case "filter":
            {
                var filter = ParsePrimary();
                if (filter is IdentifierNode && Is(JinjaTokenType.OpenParen))
                    filter = ParseCall(filter);
                Expect(JinjaTokenType.CloseStatement, "%}");
                var body = ParseUntil("endfilter");
                ExpectEnd("endfilter");
                return new FilterBlockNode(filter, body);
            }
            case "break":
                Expect(JinjaTokenType.CloseStatement, "%}");
                return new BreakNode();
            case "continue":
                Expect(JinjaTokenType.CloseStatement, "%}");
                return new ContinueNode();
            default:
                throw new JinjaException($"unknown statement '{{% {nameToken.Value}'");
        }
    }

    private JinjaNode ParseSet()
    {
        var target = ParseExpressionSequence();
        if (Is(JinjaTokenType.Equals))
        {
            _current++;
            var value = ParseExpressionSequence();
            Expect(JinjaTokenType.CloseStatement, "%}");
            return new SetNode(target, value, []);
        }
        Expect(JinjaTokenType.CloseStatement, "%}");
        var body = ParseUntil("endset");
        ExpectEnd("endset");
        return new SetNode(target, null, body);
    }

    private IfNode ParseIf()
    {
        var test = ParseExpression();
        Expect(JinjaTokenType.CloseStatement, "%}");
        var body = ParseUntil("elif", "else", "endif");
        var alternate = new List<JinjaNode>();
        if (IsStatement("elif"))
        {
            _current += 2;
            alternate.Add(ParseIf());
        }
        else if (IsStatement("else"))
        {
            _current += 2;
            Expect(JinjaTokenType.CloseStatement, "%}");
            alternate = ParseUntil("endif");
        }
        return new IfNode(test, body, alternate);
    }

    private ForNode ParseFor()
    {
        var loopVariable = ParseExpressionSequence(primary: true);
        if (loopVariable is not (IdentifierNode or TupleNode))
            throw new JinjaException("expected a name or a tuple of names after {% for");
        ExpectIdentifier("in");
        var iterable = ParseExpression();
        Expect(JinjaTokenType.CloseStatement, "%}");
        var body = ParseUntil("endfor", "else");
        var otherwise = new List<JinjaNode>();
        if (IsStatement("else"))
        {
            _current += 2;
            Expect(JinjaTokenType.CloseStatement, "%}");
            otherwise = ParseUntil("endfor");
        }
        return new ForNode(loopVariable, iterable, body, otherwise);
    }

    private JinjaNode ParseExpressionSequence(bool primary = false)
    {
        var first = primary ? ParsePrimary() : ParseExpression();
        if (!Is(JinjaTokenType.Comma))
            return first;
        var items = new List<JinjaNode> { first };
        while (Is(JinjaTokenType.Comma))
        {
            _current++;
            items.Add(primary ? ParsePrimary() : ParseExpression());
        }
        return new TupleNode(items);
    }

    private JinjaNode ParseExpression()
    {
        var value = ParseOr();
        if (!IsIdentifier("if"))
            return value;
        _current++;
        var test = ParseOr();
        if (IsIdentifier("else"))
        {
            _current++;
            return new TernaryNode(test, value, ParseExpression());
        }
        return new SelectNode(value, test);
    }

    private JinjaNode ParseOr()
    {
        var left = ParseAnd();
        while (IsIdentifier("or"))
        {
            _current++;
            left = new BinaryNode("or", left, ParseAnd());
        }
        return left;
    }

    private JinjaNode ParseAnd()
    {
        var left = ParseNot();
        while (IsIdentifier("and"))
        {
            _current++;
            left = new BinaryNode("and", left, ParseNot());
        }
        return left;
    }

    private JinjaNode ParseNot()
    {
        if (IsIdentifier("not"))
        {
            _current++;
            return new UnaryNode("not", ParseNot());
        }
        return ParseComparison();
    }

    private JinjaNode ParseComparison()
    {
        var left = ParseAdditive();
        while (true)
        {
            string op;
            if (IsIdentifier("not") && IsIdentifier("in", 1))
            {
                op = "not in";
                _current += 2;
            }
            else if (IsIdentifier("in"))
            {
                op = "in";
                _current++;
            }
            else if (Is(JinjaTokenType.ComparisonBinaryOperator))
            {
                op = _tokens[_current++].Value;
            }
            else
            {
                return left;
            }
            left = new BinaryNode(op, left, ParseAdditive());
        }
    }

    private JinjaNode ParseAdditive()
    {
        var left = ParseMultiplicative();
        while (Is(JinjaTokenType.AdditiveBinaryOperator))
        {
            string op = _tokens[_current++].Value;
            left = new BinaryNode(op, left, ParseMultiplicative());
        }
        return left;
    }

    private JinjaNode ParseMultiplicative()
    {
        var left = ParsePower();
        while (Is(JinjaTokenType.MultiplicativeBinaryOperator))
        {
            string op = _tokens[_current++].Value;
            left = new BinaryNode(op, left, ParsePower());
        }
        return left;
    }

    private JinjaNode ParsePower()
    {
        var left = ParseTest();
        while (Is(JinjaTokenType.ExponentiationBinaryOperator))
        {
            _current++;
            left = new BinaryNode("**", left, ParseTest());
        }
        return left;
    }

    private JinjaNode ParseTest()
    {
        var operand = ParseFilter();
        while (IsIdentifier("is"))
        {
            _current++;
            bool negate = IsIdentifier("not");
            if (negate) _current++;
            var test = ParsePrimary();
            string name = test switch
            {
                IdentifierNode id => id.Name,
                // "is none" / "is true" after the lexer: identifiers too; anything else is not a test name.
                _ => throw new JinjaException("expected a test name after 'is'"),
            };
            var args = Is(JinjaTokenType.OpenParen) ? ParseArguments(parameters: false) : [];
            operand = new TestNode(operand, negate, name, args);
        }
        return operand;
    }

    private JinjaNode ParseFilter()
    {
        var operand = ParseUnarySign();
        while (Is(JinjaTokenType.Pipe))
        {
            _current++;
            var filter = ParsePrimary();
            if (filter is not IdentifierNode)
                throw new JinjaException("expected a filter name after '|'");
            if (Is(JinjaTokenType.OpenParen))
                filter = ParseCall(filter);
            operand = new FilterNode(operand, filter);
        }
        return operand;
    }

    private JinjaNode ParseUnarySign()
    {
        var token = _current < _tokens.Count ? _tokens[_current] : null;
        if (token is { Type: JinjaTokenType.UnaryOperator or JinjaTokenType.AdditiveBinaryOperator, Value: "-" or "+" })
        {
            _current++;
            return new UnaryNode(token.Value, ParseUnarySign());
        }
        var member = ParseMember(ParsePrimary());
        return Is(JinjaTokenType.OpenParen) ? ParseCall(member) : member;
    }

    private JinjaNode ParseCall(JinjaNode callee)
    {
        JinjaNode expression = new CallNode(callee, ParseArguments(parameters: false));
        expression = ParseMember(expression);
        return Is(JinjaTokenType.OpenParen) ? ParseCall(expression) : expression;
    }

    /// <summary><c>(a, b=1, *rest, **more)</c>: call arguments, or a macro's parameters (names with optional defaults).</summary>
    private List<JinjaNode> ParseArguments(bool parameters)
    {
        Expect(JinjaTokenType.OpenParen, "(");
        var args = new List<JinjaNode>();
        while (!Is(JinjaTokenType.CloseParen))
        {
            if (_current >= _tokens.Count)
                throw new JinjaException("an argument list is not closed with ')'");
            JinjaNode argument;
            if (!parameters && Is(JinjaTokenType.ExponentiationBinaryOperator))
            {
                _current++;
                argument = new KeywordSpreadNode(ParseExpression());
            }
            else if (!parameters && Is(JinjaTokenType.MultiplicativeBinaryOperator) && Peek().Value == "*")
            {
                _current++;
                argument = new SpreadNode(ParseExpression());
            }
            else
            {
                argument = ParseExpression();
                if (Is(JinjaTokenType.Equals))
                {
                    _current++;
                    if (argument is not IdentifierNode id)
                        throw new JinjaException("expected a name before '=' in an argument list");
                    argument = new KeywordArgumentNode(id.Name, ParseExpression());
                }
                if (parameters && argument is not (IdentifierNode or KeywordArgumentNode))
                    throw new JinjaException("expected a parameter name");
            }
            args.Add(argument);
            if (Is(JinjaTokenType.Comma))
                _current++;
        }
        _current++;
        return args;
    }

    private JinjaNode ParseMember(JinjaNode target)
    {
        while (Is(JinjaTokenType.Dot) || Is(JinjaTokenType.OpenSquareBracket))
        {
            bool computed = _tokens[_current++].Type == JinjaTokenType.OpenSquareBracket;
            JinjaNode property;
            if (computed)
            {
                property = ParseSubscript();
                Expect(JinjaTokenType.CloseSquareBracket, "]");
            }
            else
            {
                property = ParsePrimary();
                if (property is not (IdentifierNode or IntegerNode))
                    throw new JinjaException("expected a name after '.'");
            }
            target = new MemberNode(target, property, computed);
        }
        return target;
    }

    /// <summary>What is inside <c>[...]</c>: an index or key, or a slice <c>start:stop:step</c> with any part left out.</summary>
    private JinjaNode ParseSubscript()
    {
        var parts = new List<JinjaNode?>();
        bool isSlice = false;
        while (!Is(JinjaTokenType.CloseSquareBracket))
        {
            if (_current >= _tokens.Count)
                throw new JinjaException("a subscript is not closed with ']'");
            if (Is(JinjaTokenType.Colon))
            {
                parts.Add(null);
                _current++;
                isSlice = true;
            }
            else
            {
                parts.Add(ParseExpression());
                if (Is(JinjaTokenType.Colon))
                {
                    _current++;
                    isSlice = true;
                }
            }
        }
        if (parts.Count == 0)
            throw new JinjaException("expected an index inside []");
        if (!isSlice)
            return parts[0]!;
        if (parts.Count > 3)
            throw new JinjaException("a slice has at most three parts");
        return new SliceNode(parts[0], parts.Count > 1 ? parts[1] : null, parts.Count > 2 ? parts[2] : null);
    }

    private JinjaNode ParsePrimary()
    {
        var token = Peek();
        _current++;
        switch (token.Type)
        {
            case JinjaTokenType.NumericLiteral:
                return token.Value.Contains('.')
                    ? new FloatNode(double.Parse(token.Value, CultureInfo.InvariantCulture))
                    : new IntegerNode(long.Parse(token.Value, CultureInfo.InvariantCulture));
            case JinjaTokenType.StringLiteral:
            {
                // Adjacent literals join, as in Python: "a" "b" is "ab".
                string value = token.Value;
                while (Is(JinjaTokenType.StringLiteral))
                    value += _tokens[_current++].Value;
                return new StringNode(value);
            }
            case JinjaTokenType.Identifier:
                return new IdentifierNode(token.Value);
            case JinjaTokenType.OpenParen:
            {
                var expression = ParseExpressionSequence();
                Expect(JinjaTokenType.CloseParen, ")");
                return expression;
            }
            case JinjaTokenType.OpenSquareBracket:
            {
                var items = new List<JinjaNode>();
                while (!Is(JinjaTokenType.CloseSquareBracket))
                {
                    if (_current >= _tokens.Count)
                        throw new JinjaException("a list is not closed with ']'");
                    items.Add(ParseExpression());
                    if (Is(JinjaTokenType.Comma)) _current++;
                }
                _current++;
                return new ListNode(items);
            }
            case JinjaTokenType.OpenCurlyBracket:
            {
                var entries = new List<(JinjaNode, JinjaNode)>();
                while (!Is(JinjaTokenType.CloseCurlyBracket))
                {
                    if (_current >= _tokens.Count)
                        throw new JinjaException("a dict is not closed with '}'");
                    var key = ParseExpression();
                    Expect(JinjaTokenType.Colon, "':' between a key and its value");
                    entries.Add((key, ParseExpression()));
                    if (Is(JinjaTokenType.Comma)) _current++;
                }
                _current++;
                return new DictNode(entries);
            }
            default:
                throw new JinjaException($"unexpected {token}");
        }
    }
}
