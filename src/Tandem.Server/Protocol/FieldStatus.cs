namespace Tandem.Server.Protocol;

/// <summary>What the server does with one request field (the server README's field table lists each).</summary>
public enum FieldStatus
{
    /// <summary>Read and honoured.</summary>
    Supported,
    /// <summary>Accepted and, on purpose, without effect (the table says why: nothing to store, no tiers).</summary>
    Ignored,
    /// <summary>Refused with 400 naming the field, unless its value asks for what the server does anyway (false, empty, the default).</summary>
    Refused,
}
