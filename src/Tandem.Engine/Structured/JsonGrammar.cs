using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Tandem.Engine.Structured;

/// <summary>
/// What structured output must be: any JSON object (OpenAI's <c>json_object</c> mode) or a JSON value that
/// validates against a JSON Schema, compiled into the node graph that <see cref="JsonAutomaton"/> walks. Immutable
/// and shared by every request that asks for the same schema; it also holds the token masks computed for it
/// (per vocabulary), so the grammars are cached by schema text (<see cref="FromSchema(string)"/>).
/// </summary>
public sealed class JsonGrammar
{
    internal enum NodeKind : byte
    {
        /// <summary>An object with declared properties, written in declaration order. Data: index into Objects.</summary>
        Object,
        /// <summary>An object with any keys. Data: the node of every value.</summary>
        FreeObject,
        /// <summary>Data: the node of every item, or -1 when only [] is allowed.</summary>
        Array,
        String,
        Number,
        Integer,
        /// <summary>One of a fixed set of serialized values (enum, const, true/false/null). Data: index into Tries.</summary>
        Literals,
        /// <summary>The first byte picks the node (a list of types, or any value). Data: index into Dispatch.</summary>
        Union,
    }

    /// <summary>A declared object: its property names (JSON-escaped, closing quote included) and value nodes.</summary>
    internal sealed class ObjectShape(ByteTrie names, int[] valueNodes, int[] firstRequiredFrom)
    {
        public ByteTrie Names { get; } = names;
        public int[] ValueNodes { get; } = valueNodes;
        /// <summary>For each p in [0, n]: the first required property at index p or later; n when none is.</summary>
        public int[] FirstRequiredFrom { get; } = firstRequiredFrom;
        public int Count => ValueNodes.Length;

        /// <summary>
        /// A tagged union (<c>anyOf</c> of objects told apart by their first property): this shape is the tag alone,
        /// whose value node is the literals of every branch's tag values; once one is written the object goes on as
        /// the object node <c>Variants[i]</c>, i the index of that value. Null for a plain object.
        /// </summary>
        public int[]? Variants { get; init; }
    }

    /// <summary>Compiled grammars kept by schema text; cleared when full (schemas are few in practice).</summary>
    private const int MaxCachedGrammars = 64;
    private static readonly ConcurrentDictionary<string, JsonGrammar> Cache = new(StringComparer.Ordinal);

    private readonly ConditionalWeakTable<VocabularyTrie, TokenMaskCache> _masks = new();

    internal JsonGrammar(NodeKind[] kinds, int[] data, ObjectShape[] objects, ByteTrie[] tries, int[][] dispatch,
        int root, int keyString, string? schema)
    {
        Kinds = kinds;
        Data = data;
        Objects = objects;
        Tries = tries;
        Dispatch = dispatch;
        Root = root;
        KeyString = keyString;
        Schema = schema;
    }

    /// <summary>Any JSON object: <c>response_format: {"type": "json_object"}</c>.</summary>
    public static JsonGrammar JsonObject { get; } = JsonSchemaCompiler.CompileJsonObject();

    /// <summary>The schema as compact JSON text (what travels to cluster workers); null for <see cref="JsonObject"/>.</summary>
    public string? Schema { get; }

    internal NodeKind[] Kinds { get; }
    internal int[] Data { get; }
    internal ObjectShape[] Objects { get; }
    internal ByteTrie[] Tries { get; }
    internal int[][] Dispatch { get; }
    internal int Root { get; }
    /// <summary>A string node, for the keys of free objects.</summary>
    internal int KeyString { get; }

    /// <summary>
    /// Compiles (or takes from the cache) a JSON Schema. Throws <see cref="JsonSchemaException"/> naming the
    /// keyword for a schema that uses a feature not supported, or that no value satisfies.
    /// </summary>
    public static JsonGrammar FromSchema(JsonElement schema) => FromSchema(Compact(schema));

    /// <summary>Compiles (or takes from the cache) a JSON Schema given as JSON text.</summary>
    public static JsonGrammar FromSchema(string schemaJson)
    {
        ArgumentNullException.ThrowIfNull(schemaJson);
        if (Cache.TryGetValue(schemaJson, out var cached)) return cached;
        JsonElement schema;
        try
        {
            using var doc = JsonDocument.Parse(schemaJson);
            schema = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new JsonSchemaException($"The schema is not valid JSON: {e.Message}", "", null);
        }
        string text = Compact(schema);
        var grammar = JsonSchemaCompiler.Compile(schema, text);
        if (Cache.Count >= MaxCachedGrammars) Cache.Clear();
        Cache[schemaJson] = grammar;
        return grammar;
    }

    /// <summary>The wire form back to a grammar: a schema's text, or null for <see cref="JsonObject"/>.</summary>
    public static JsonGrammar FromWire(string? schema) => string.IsNullOrEmpty(schema) ? JsonObject : FromSchema(schema);

    internal TokenMaskCache MasksFor(VocabularyTrie trie) => _masks.GetValue(trie, _ => new TokenMaskCache());

    private static string Compact(JsonElement e)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            e.WriteTo(writer);
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
