namespace Tandem.Engine.Structured;

/// <summary>
/// A JSON Schema that cannot be enforced: a keyword outside the supported set (<see cref="Keyword"/> names it),
/// a malformed value, or a schema that no value satisfies. <see cref="Path"/> is where in the schema, as a JSON
/// Pointer ("" for the root).
/// </summary>
public sealed class JsonSchemaException(string message, string path, string? keyword) : Exception(message)
{
    public string Path { get; } = path;

    /// <summary>The unsupported keyword, or null when the schema is malformed rather than beyond what is supported.</summary>
    public string? Keyword { get; } = keyword;

    public bool IsUnsupported => Keyword != null;
}
