namespace Tandem.Server.Protocol;

/// <summary>What the server does with one request field (the server README's field table lists each).</summary>
public enum FieldStatus
{
    /// <summary>Read and honoured.</summary>
    Supported,
    /// <summary>Accepted and, on purpose, without effect (the table says why: nothing to store, no tiers, no tools to choose from).</summary>
    Ignored,
    /// <summary>Refused with 400 naming the field, unless its value asks for what the server does anyway (false, empty, the default).</summary>
    Refused,
    /// <summary>Structured output (<c>response_format</c>, <c>guided_json</c>): built separately; refused beyond plain text until it lands.</summary>
    StructuredOutput,
}
