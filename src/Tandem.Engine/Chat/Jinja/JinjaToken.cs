namespace Tandem.Engine.Chat.Jinja;

/// <summary>The kinds of token the lexer makes (those of Hugging Face's @huggingface/jinja, whose behaviour this interpreter follows).</summary>
internal enum JinjaTokenType
{
    Text,
    NumericLiteral,
    StringLiteral,
    Identifier,
    Equals,
    OpenParen,
    CloseParen,
    OpenStatement,
    CloseStatement,
    OpenExpression,
    CloseExpression,
    OpenSquareBracket,
    CloseSquareBracket,
    OpenCurlyBracket,
    CloseCurlyBracket,
    Comma,
    Dot,
    Colon,
    Pipe,
    AdditiveBinaryOperator,
    MultiplicativeBinaryOperator,
    ExponentiationBinaryOperator,
    ComparisonBinaryOperator,
    UnaryOperator,
    Comment,
}

/// <summary>One token: its kind and its text (a string literal's value already unescaped).</summary>
internal sealed class JinjaToken(string value, JinjaTokenType type)
{
    public string Value { get; set; } = value;
    public JinjaTokenType Type { get; } = type;

    public override string ToString() => $"{Type} '{Value}'";
}
