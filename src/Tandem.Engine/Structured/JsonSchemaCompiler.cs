using System.Text.Json;
using NodeKind = Tandem.Engine.Structured.JsonGrammar.NodeKind;

namespace Tandem.Engine.Structured;

/// <summary>
/// Turns a JSON Schema into a <see cref="JsonGrammar"/>. Supported: <c>type</c> (one or a list of object, array,
/// string, number, integer, boolean, null), <c>properties</c>, <c>required</c>, <c>additionalProperties</c>,
/// <c>items</c>, <c>enum</c>, <c>const</c>, <c>anyOf</c>/<c>oneOf</c> of objects told apart by their first property (a
/// tagged union, such as a tool call whose name picks the schema of its arguments), and the annotations that constrain
/// nothing (title, description, ...). Any other keyword is refused by name rather than silently not enforced.
/// </summary>
/// <remarks>
/// The grammar generates a subset of what the schema accepts, chosen so that a small automaton can enforce it:
/// declared properties are written in declaration order (required ones always, optional ones may be skipped) and
/// no undeclared property is generated even where <c>additionalProperties</c> allows one, as vLLM's and llama.cpp's
/// grammars do; an object schema without properties takes any keys. Numbers have at most 16 integer and 16
/// fraction digits and a two-digit exponent (so every value fits a double), whitespace between tokens is one space or
/// a newline and at most <see cref="JsonAutomaton.MaxIndent"/> bytes of indentation, and strings are valid UTF-8
/// without unpaired surrogate escapes.
/// </remarks>
internal sealed class JsonSchemaCompiler
{
    /// <summary>How deeply schemas may nest: each level is one automaton frame.</summary>
    public const int MaxSchemaDepth = 32;
    /// <summary>Bounds the work one request's schema can cause.</summary>
    public const int MaxNodes = 10_000;

    private static readonly HashSet<string> Annotations =
        ["title", "description", "$schema", "$id", "$comment", "default", "examples", "deprecated", "readOnly", "writeOnly"];
    private static readonly string[] Supported =
        ["type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf", "oneOf"];
    private static readonly string[] TypeNames = ["object", "array", "string", "number", "integer", "boolean", "null"];

    private readonly List<NodeKind> _kinds = [];
    private readonly List<int> _data = [];
    private readonly List<JsonGrammar.ObjectShape> _objects = [];
    private readonly List<ByteTrie> _tries = [];
    private readonly List<int[]> _dispatch = [];
    private int _any = -1, _string = -1, _number = -1, _integer = -1, _boolean = -1, _null = -1;

    public static JsonGrammar CompileJsonObject()
    {
        var c = new JsonSchemaCompiler();
        int root = c.Add(NodeKind.FreeObject, c.Any());
        return c.Build(root, null);
    }

    public static JsonGrammar Compile(JsonElement schema, string text)
    {
        var c = new JsonSchemaCompiler();
        int root = c.Node(schema, "", 0);
        return c.Build(root, text);
    }

    private JsonGrammar Build(int root, string? schema)
    {
        int keyString = StringNode(); // before the arrays are copied: it may add a node
        return new([.. _kinds], [.. _data], [.. _objects], [.. _tries], [.. _dispatch], root, keyString, schema);
    }

    private int Add(NodeKind kind, int data)
    {
        if (_kinds.Count >= MaxNodes)
            throw new JsonSchemaException($"The schema is too large: it compiles to more than {MaxNodes} grammar nodes.", "", null);
        _kinds.Add(kind);
        _data.Add(data);
        return _kinds.Count - 1;
    }

    private int Node(JsonElement s, string path, int depth)
    {
        if (depth > MaxSchemaDepth)
            throw new JsonSchemaException($"The schema nests more than {MaxSchemaDepth} levels deep (at '{path}').", path, null);
        if (s.ValueKind == JsonValueKind.True) return Any();
        if (s.ValueKind == JsonValueKind.False)
            throw new JsonSchemaException($"The schema at '{Where(path)}' is false: no value satisfies it.", path, null);
        if (s.ValueKind != JsonValueKind.Object)
            throw new JsonSchemaException($"The schema at '{Where(path)}' must be an object or a boolean.", path, null);

        foreach (var p in s.EnumerateObject())
        {
            if (Annotations.Contains(p.Name) || Supported.Contains(p.Name)) continue;
            throw new JsonSchemaException(
                $"The JSON Schema keyword '{p.Name}' (at '{Where(path)}') is not supported. Supported keywords: {string.Join(", ", Supported)} " +
                $"(and the annotations {string.Join(", ", Annotations)}).", path, p.Name);
        }

        if (s.TryGetProperty("anyOf", out var branches)) return TaggedUnion(s, "anyOf", branches, path, depth);
        if (s.TryGetProperty("oneOf", out branches)) return TaggedUnion(s, "oneOf", branches, path, depth);
        var types = Types(s, path);
        if (s.TryGetProperty("enum", out _) || s.TryGetProperty("const", out _))
            return LiteralsNode(s, types, path);
        if (types == null)
        {
            if (s.TryGetProperty("properties", out _) || s.TryGetProperty("required", out _) || s.TryGetProperty("additionalProperties", out _))
                types = ["object"];
            else if (s.TryGetProperty("items", out _))
                types = ["array"];
            else
                return Any();
        }
        if (types.Contains("number")) types.Remove("integer"); // a number covers every integer

        var nodes = new List<int>();
        foreach (string type in types)
        {
            nodes.Add(type switch
            {
                "object" => ObjectNode(s, path, depth),
                "array" => ArrayNode(s, path, depth),
                "string" => StringNode(),
                "number" => _number >= 0 ? _number : _number = Add(NodeKind.Number, 0),
                "integer" => _integer >= 0 ? _integer : _integer = Add(NodeKind.Integer, 0),
                "boolean" => _boolean >= 0 ? _boolean : _boolean = Literals(["true", "false"]),
                _ => _null >= 0 ? _null : _null = Literals(["null"]),
            });
        }
        return nodes.Count == 1 ? nodes[0] : Union(nodes);
    }

    /// <summary>The <c>type</c> keyword as a list of names (null when absent), checked against JSON Schema's seven.</summary>
    private static List<string>? Types(JsonElement s, string path)
    {
        if (!s.TryGetProperty("type", out var t)) return null;
        var list = new List<string>();
        if (t.ValueKind == JsonValueKind.String) list.Add(t.GetString()!);
        else if (t.ValueKind == JsonValueKind.Array && t.GetArrayLength() > 0 && t.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String))
            list.AddRange(t.EnumerateArray().Select(x => x.GetString()!));
        else
            throw new JsonSchemaException($"'type' at '{Where(path)}' must be a type name or a non-empty array of type names.", path + "/type", null);
        foreach (string name in list)
        {
            if (!TypeNames.Contains(name))
                throw new JsonSchemaException($"'type' at '{Where(path)}' names '{name}', which is not a JSON Schema type ({string.Join(", ", TypeNames)}).", path + "/type", null);
        }
        return list.Distinct().ToList();
    }

    /// <summary><c>enum</c> / <c>const</c>: exactly the listed values (those of an allowed type), in compact JSON.</summary>
    private int LiteralsNode(JsonElement s, List<string>? types, string path)
    {
        var values = new List<JsonElement>();
        if (s.TryGetProperty("const", out var c)) values.Add(c);
        if (s.TryGetProperty("enum", out var e))
        {
            if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() == 0)
                throw new JsonSchemaException($"'enum' at '{Where(path)}' must be a non-empty array.", path + "/enum", null);
            if (values.Count == 0) values.AddRange(e.EnumerateArray());
            else if (!e.EnumerateArray().Any(v => JsonElement.DeepEquals(v, c))) values.Clear(); // const not among enum
        }
        if (types != null) values.RemoveAll(v => !types.Any(t => IsOfType(v, t)));
        if (values.Count == 0)
            throw new JsonSchemaException($"No value satisfies the schema at '{Where(path)}': its enum/const values do not match its type.", path, null);
        return Literals(values.Select(Serialize).ToList());
    }

    private static bool IsOfType(JsonElement v, string type) => type switch
    {
        "object" => v.ValueKind == JsonValueKind.Object,
        "array" => v.ValueKind == JsonValueKind.Array,
        "string" => v.ValueKind == JsonValueKind.String,
        "number" => v.ValueKind == JsonValueKind.Number,
        "integer" => v.ValueKind == JsonValueKind.Number && (v.TryGetInt64(out _) || (v.TryGetDouble(out double d) && double.IsFinite(d) && d == Math.Floor(d))),
        "boolean" => v.ValueKind is JsonValueKind.True or JsonValueKind.False,
        _ => v.ValueKind == JsonValueKind.Null,
    };

    private int ObjectNode(JsonElement s, string path, int depth)
    {
        var names = new List<string>();
        var nodes = new List<int>();
        if (s.TryGetProperty("properties", out var props))
        {
            if (props.ValueKind != JsonValueKind.Object)
                throw new JsonSchemaException($"'properties' at '{Where(path)}' must be an object.", path + "/properties", null);
            foreach (var p in props.EnumerateObject())
            {
                if (names.Contains(p.Name)) continue;
                names.Add(p.Name);
                nodes.Add(Node(p.Value, $"{path}/properties/{Escape(p.Name)}", depth + 1));
            }
        }
        var required = new HashSet<string>(StringComparer.Ordinal);
        if (s.TryGetProperty("required", out var req))
        {
            if (req.ValueKind != JsonValueKind.Array || req.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
                throw new JsonSchemaException($"'required' at '{Where(path)}' must be an array of property names.", path + "/required", null);
            foreach (var r in req.EnumerateArray())
            {
                string name = r.GetString()!;
                required.Add(name);
                if (!names.Contains(name)) { names.Add(name); nodes.Add(Any()); } // required but undeclared: any value
            }
        }
        int additional = -1; // -1: none allowed; else the node of undeclared properties' values
        if (s.TryGetProperty("additionalProperties", out var more))
        {
            if (more.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Object))
                throw new JsonSchemaException($"'additionalProperties' at '{Where(path)}' must be a boolean or a schema.", path + "/additionalProperties", null);
            if (more.ValueKind != JsonValueKind.False)
                additional = Node(more, path + "/additionalProperties", depth + 1);
        }
        else
        {
            additional = Any();
        }

        if (names.Count == 0 && additional >= 0)
            return Add(NodeKind.FreeObject, additional);

        int n = names.Count;
        var firstRequired = new int[n + 1];
        firstRequired[n] = n;
        for (int i = n - 1; i >= 0; i--) firstRequired[i] = required.Contains(names[i]) ? i : firstRequired[i + 1];
        var keyBytes = names.Select(name => Serialize(name)[1..]).ToList(); // without the opening quote: the trie starts after it
        _objects.Add(new JsonGrammar.ObjectShape(new ByteTrie(keyBytes), [.. nodes], firstRequired));
        return Add(NodeKind.Object, _objects.Count - 1);
    }

    /// <summary>
    /// <c>anyOf</c> / <c>oneOf</c> of object schemas told apart by their first declared property, required in each,
    /// whose <c>const</c> or <c>enum</c> values no two branches share: the object is written tag first, and the tag's
    /// value picks the branch the rest must follow (for such branches anyOf and oneOf accept the same values). Other
    /// unions are refused: a union the first byte cannot tell apart needs more than one automaton at a time.
    /// </summary>
    private int TaggedUnion(JsonElement s, string keyword, JsonElement branches, string path, int depth)
    {
        string at = $"{path}/{keyword}";
        JsonSchemaException Refused(string why) => new(
            $"'{keyword}' (at '{Where(path)}') is supported only as a union of object schemas told apart by their first property " +
            $"(required in each, with a const or enum that no other branch shares): {why}.", path, keyword);
        foreach (var p in s.EnumerateObject())
        {
            bool objectType = p.Name == "type" && p.Value.ValueKind == JsonValueKind.String && p.Value.ValueEquals("object");
            if (p.Name != keyword && !Annotations.Contains(p.Name) && !objectType)
                throw Refused($"'{p.Name}' beside it is not");
        }
        if (branches.ValueKind != JsonValueKind.Array || branches.GetArrayLength() == 0)
            throw Refused("it must be a non-empty array");
        string? tag = null;
        var values = new List<byte[]>();
        var variants = new List<int>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int i = 0;
        foreach (var branch in branches.EnumerateArray())
        {
            string branchPath = $"{at}/{i++}";
            if (branch.ValueKind != JsonValueKind.Object || !branch.TryGetProperty("properties", out var props)
                || props.ValueKind != JsonValueKind.Object || !props.EnumerateObject().Any())
                throw Refused($"'{branchPath}' declares no properties");
            var first = props.EnumerateObject().First();
            if (tag is null) tag = first.Name;
            else if (first.Name != tag)
                throw Refused($"'{branchPath}' starts with the property '{first.Name}', the first branch with '{tag}'");
            bool required = branch.TryGetProperty("required", out var req) && req.ValueKind == JsonValueKind.Array
                && req.EnumerateArray().Any(r => r.ValueKind == JsonValueKind.String && r.ValueEquals(tag));
            if (!required)
                throw Refused($"'{branchPath}' does not require '{tag}'");
            var tagValues = new List<JsonElement>();
            if (first.Value.ValueKind == JsonValueKind.Object && first.Value.TryGetProperty("const", out var c)) tagValues.Add(c);
            else if (first.Value.ValueKind == JsonValueKind.Object && first.Value.TryGetProperty("enum", out var e) && e.ValueKind == JsonValueKind.Array)
                tagValues.AddRange(e.EnumerateArray());
            if (tagValues.Count == 0)
                throw Refused($"'{branchPath}/properties/{Escape(tag)}' has no const or enum");
            int node = Node(branch, branchPath, depth + 1);
            if (_kinds[node] != NodeKind.Object)
                throw Refused($"'{branchPath}' is not only an object");
            foreach (var value in tagValues)
            {
                byte[] bytes = Serialize(value);
                if (!seen.Add(System.Text.Encoding.UTF8.GetString(bytes)))
                    throw Refused($"the value {System.Text.Encoding.UTF8.GetString(bytes)} of '{tag}' is in two branches");
                values.Add(bytes);
                variants.Add(node);
            }
        }
        // The union's own shape is the tag alone; the value written picks the branch (JsonAutomaton.ChildDone).
        int literals = Literals(values);
        var names = new ByteTrie([Serialize(tag!)[1..]]);
        _objects.Add(new JsonGrammar.ObjectShape(names, [literals], [0, 1]) { Variants = [.. variants] });
        return Add(NodeKind.Object, _objects.Count - 1);
    }

    private int ArrayNode(JsonElement s, string path, int depth)
    {
        if (!s.TryGetProperty("items", out var items)) return Add(NodeKind.Array, Any());
        if (items.ValueKind == JsonValueKind.False) return Add(NodeKind.Array, -1);
        if (items.ValueKind is not (JsonValueKind.True or JsonValueKind.Object))
            throw new JsonSchemaException($"'items' at '{Where(path)}' must be a schema (an object or a boolean).", path + "/items", null);
        return Add(NodeKind.Array, Node(items, path + "/items", depth + 1));
    }

    private int StringNode() => _string >= 0 ? _string : _string = Add(NodeKind.String, 0);

    /// <summary>Any JSON value: objects with any keys, arrays of anything, and the scalars.</summary>
    private int Any()
    {
        if (_any >= 0) return _any;
        var table = new int[256];
        Array.Fill(table, -1);
        _dispatch.Add(table);
        _any = Add(NodeKind.Union, _dispatch.Count - 1);
        table['{'] = Add(NodeKind.FreeObject, _any);
        table['['] = Add(NodeKind.Array, _any);
        table['"'] = StringNode();
        int number = _number >= 0 ? _number : _number = Add(NodeKind.Number, 0);
        foreach (byte b in "-0123456789"u8) table[b] = number;
        int literals = Literals(["true", "false", "null"]);
        table['t'] = table['f'] = table['n'] = literals;
        return _any;
    }

    private int Literals(List<string> serialized) =>
        Literals(serialized.Select(System.Text.Encoding.UTF8.GetBytes).ToList());

    private int Literals(List<byte[]> serialized)
    {
        _tries.Add(new ByteTrie(serialized));
        return Add(NodeKind.Literals, _tries.Count - 1);
    }

    /// <summary>A node for several types: each type starts with different bytes, so the first byte picks one.</summary>
    private int Union(List<int> nodes)
    {
        var table = new int[256];
        Array.Fill(table, -1);
        foreach (int node in nodes)
        {
            foreach (byte b in FirstBytes(node))
                table[b] = node;
        }
        _dispatch.Add(table);
        return Add(NodeKind.Union, _dispatch.Count - 1);
    }

    private IEnumerable<byte> FirstBytes(int node) => _kinds[node] switch
    {
        NodeKind.Object or NodeKind.FreeObject => "{"u8.ToArray(),
        NodeKind.Array => "["u8.ToArray(),
        NodeKind.String => "\""u8.ToArray(),
        NodeKind.Number or NodeKind.Integer => "-0123456789"u8.ToArray(),
        NodeKind.Literals => _tries[_data[node]].FirstBytes,
        _ => Enumerable.Range(0, 256).Where(b => _dispatch[_data[node]][b] >= 0).Select(b => (byte)b),
    };

    /// <summary>Compact JSON, non-ASCII text kept as UTF-8 (what a model writes), as the bytes the automaton matches.</summary>
    private static byte[] Serialize(JsonElement value)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
            value.WriteTo(writer);
        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] Serialize(string value)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
            writer.WriteStringValue(value);
        return buffer.WrittenSpan.ToArray();
    }

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string Where(string path) => path.Length == 0 ? "/" : path;

    private static string Escape(string name) => name.Replace("~", "~0").Replace("/", "~1");
}
