using System.Text;
using System.Text.Json.Nodes;

namespace Tandem.Server.Tests;

/// <summary>
/// A body the server must refuse with a 4xx: where it goes, its bytes, what was done to it, and whether it holds bad
/// text (then the refusal is a 400 naming <paramref name="TextParam"/>, null for a property name at the root).
/// </summary>
public sealed record MalformedBody(string Path, byte[] Body, string Mutation, bool BadText = false, string? TextParam = null)
{
    public override string ToString()
    {
        string text = Encoding.UTF8.GetString(Body); // invalid bytes show as U+FFFD: readable enough for a failure message
        return $"{Path} [{Mutation}] {(text.Length > 160 ? text[..160] + "…" : text)}";
    }
}

/// <summary>
/// Seeded generator of request bodies that are wrong in one way each, for both generation endpoints: truncated
/// JSON, garbage bytes, non-object roots, missing fields, wrong types, out-of-range, huge, negative and non-finite
/// numbers, nesting past the parser's depth, unknown roles and content parts, and invalid text (bad UTF-8 bytes or
/// unpaired surrogate escapes) in every string field and in property names. Every body it makes is invalid: none
/// may start a generation, so a 2xx is a failure as much as a 5xx is.
/// </summary>
public sealed class MalformedBodies(int seed)
{
    private const string Completions = "/v1/completions";
    private const string Chat = "/v1/chat/completions";
    /// <summary>Stands in the serialized JSON for bytes JsonNode cannot write (bad text, NaN, 1e400), swapped in afterwards.</summary>
    private const string Marker = "@@RAW@@";

    private readonly Random _random = new(seed);

    /// <summary>Sequences that make a JSON string invalid text: the raw bytes between the quotes.</summary>
    private static readonly byte[][] BadText =
    [
        .. new[] { @"\ud800", @"\udfff", @"\ud800\u0041", @"\udbff\udbff", @"\udc00\ud800", @"\ud800\n", @"\uD83Dx", @"\ude00" }
            .Select(Encoding.ASCII.GetBytes),
        [0xFF], [0xFE], [0xC0, 0xAF], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x80], [0xF0, 0x9F, 0x98], [0xC3],
    ];

    /// <summary>Valid text around the bad sequence, escapes and non-ASCII included, so the check must look past them.</summary>
    private static readonly string[] Surroundings = ["", "Once upon a time", @"caf\u00e9 ", @"smile \ud83d\ude00 ", "line\\nbreak ", "日本語 ", "tab\\t"];

    /// <summary>Values every generation request refuses, per field (raw JSON text).</summary>
    private static readonly (string Field, string[] Values)[] CommonBadValues =
    [
        ("model", ["5", "true", "[]", "{}", "\"gpt-4\"", "\"\""]),
        ("max_tokens", ["\"4\"", "true", "[]", "{}", "1.5", "0", "-1", "1e400", "-1e400", "99999999999999999999", "100000", "2147483648"]),
        ("temperature", ["\"hot\"", "-1", "-0.001", "1e400", "-1e400", "[]", "{}", "true", "NaN", "Infinity", "-Infinity"]),
        ("top_p", ["1.5", "-0.1", "\"x\"", "1e309"]),
        ("top_k", ["-2", "\"x\"", "1.5", "1e20"]),
        ("min_p", ["2", "-1"]),
        ("n", ["0", "-1", "129", "1e10", "\"2\"", "2.5"]),
        ("seed", ["\"x\"", "1.5", "1e30", "[]"]),
        ("stream", ["\"yes\"", "1", "[]", "{}"]),
        ("stream_options", ["{\"include_usage\":true}", "\"x\""]),
        ("stop", ["5", "[1]", "{}", "[[]]", "[null]", "true"]),
        ("presence_penalty", ["3", "-3", "\"x\""]),
        ("frequency_penalty", ["2.5", "-2.5"]),
        ("repetition_penalty", ["0", "-1", "\"x\""]),
        ("repeat_last_n", ["-2", "\"x\"", "1.5"]),
        ("logit_bias", ["{\"13\":500}", "{\"x\":1}", "\"x\"", "[1]"]),
        ("ignore_eos", ["\"yes\"", "1"]),
        ("return_timeline", ["\"yes\"", "0"]),
        ("response_format", ["{\"type\":\"xml\"}", "\"text\"", "5", "{}", "{\"type\":\"json_schema\"}", "{\"type\":\"json_schema\",\"json_schema\":[]}",
            "{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{\"type\":\"string\",\"minLength\":1}}}",
            "{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{\"type\":\"date\"}}}", "{\"type\":\"json_schema\",\"json_schema\":{\"schema\":false}}"]),
        ("guided_json", ["5", "\"{\"", "{\"anyOf\":[]}", "\"{\\\"$ref\\\":\\\"#\\\"}\"", "[]"]),
    ];

    private static readonly (string Field, string[] Values)[] CompletionBadValues =
    [
        ("prompt", ["42", "true", "{}", "[]", "[true]", "[1,\"a\"]", "[\"a\",1]", "[[1],\"a\"]", "[-1]", "[99999]", "[1.5]", "[2147483648]",
            "[[]]", "[{}]", "null", "[[1,2],[-5]]", "[[[[1]]]]"]),
        ("logprobs", ["21", "-1", "\"x\"", "true"]),
        ("echo", ["1", "\"x\""]),
        ("suffix", ["\"The end.\"", "5"]),
        ("best_of", ["2", "0", "\"x\""]),
    ];

    private static readonly (string Field, string[] Values)[] ChatBadValues =
    [
        ("messages", [
            "\"Hi\"", "5", "{}", "[]", "[1]", "[null]", "null", "[[[[[\"Hi\"]]]]]",
            "[{\"role\":\"robot\",\"content\":\"Hi\"}]", "[{\"role\":5,\"content\":\"Hi\"}]", "[{\"content\":\"Hi\"}]",
            "[{\"role\":\"user\"}]", "[{\"role\":\"user\",\"content\":5}]", "[{\"role\":\"\",\"content\":\"Hi\"}]",
            "[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]",
            "[{\"role\":\"user\",\"content\":[1]}]", "[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]",
            "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":5}]}]", "[{\"role\":\"user\",\"content\":{\"text\":\"hi\"}}]",
            "[{\"role\":\"assistant\",\"tool_calls\":[]}]", "[{\"role\":\"user\",\"content\":[{\"type\":5}]}]"]),
        ("logprobs", ["\"yes\"", "1"]),
        ("top_logprobs", ["2", "21", "-1"]),
        ("max_completion_tokens", ["0", "-3", "\"x\"", "100000"]),
        ("tools", ["[{\"type\":\"function\"}]", "\"x\""]),
    ];

    private static readonly string[] BadRoots = ["[1,2]", "\"text\"", "42", "null", "true", "[]", "", " ", "\n\t"];

    /// <summary>Pieces of JSON-like garbage; "prompt" and "messages" are left out so no assembly of them can be a valid request.</summary>
    private static readonly string[] Junk = ["{", "}", "[", "]", ",", ":", "\"model\"", "\"stories260K\"", "1", "-", "e9", "null", "\"", "\\", "tru", " "];

    public MalformedBody Next()
    {
        bool chat = _random.Next(2) == 0;
        string path = chat ? Chat : Completions;
        return _random.Next(10) switch
        {
            0 or 1 or 2 => BadTextInString(path, chat),
            3 => BadTextInPropertyName(path, chat),
            4 => Truncated(path, chat),
            5 or 6 => BadValue(path, chat),
            7 => DeeplyNested(path, chat),
            8 => Garbage(path),
            _ => _random.Next(3) switch
            {
                0 => new MalformedBody(path, Encoding.UTF8.GetBytes(Pick(BadRoots)), "non-object root"),
                1 => MissingField(path, chat),
                _ => new MalformedBody(path, Encoding.UTF8.GetBytes("{\"model\":\"stories260K\"," + Pick(Junk)), "junk after a field"),
            },
        };
    }

    private JsonObject Base(bool chat)
    {
        var o = new JsonObject { ["model"] = RunningServer.ModelName, ["max_tokens"] = 4, ["temperature"] = 0 };
        if (chat)
        {
            o["messages"] = new JsonArray(
                new JsonObject { ["role"] = "system", ["content"] = "Be brief." },
                new JsonObject { ["role"] = "user", ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = "Hi" }), ["name"] = "kim" });
            o["stop"] = "x";
        }
        else
        {
            o["prompt"] = _random.Next(2) == 0 ? References.OnceUponATime : new JsonArray(References.OnceUponATime, References.LilyAndBen);
            o["stop"] = new JsonArray("x", "y");
        }
        return o;
    }

    /// <summary>Every string field of the base request, by the param name the refusal must carry, with a setter.</summary>
    private static List<(string Param, Action<string> Set)> StringSlots(JsonObject o)
    {
        var slots = new List<(string, Action<string>)>
        {
            ("model", s => o["model"] = s),
            ("user", s => o["user"] = s), // a field the server otherwise ignores: still refused
        };
        if (o["prompt"] is JsonArray prompts)
            for (int i = 0; i < prompts.Count; i++) { int k = i; slots.Add(($"prompt[{k}]", s => prompts[k] = s)); }
        else if (o.ContainsKey("prompt"))
            slots.Add(("prompt", s => o["prompt"] = s));
        if (o["stop"] is JsonArray stops)
            for (int i = 0; i < stops.Count; i++) { int k = i; slots.Add(($"stop[{k}]", s => stops[k] = s)); }
        else
            slots.Add(("stop", s => o["stop"] = s));
        if (o["messages"] is JsonArray messages)
        {
            var system = (JsonObject)messages[0]!;
            var user = (JsonObject)messages[1]!;
            var part = (JsonObject)((JsonArray)user["content"]!)[0]!;
            slots.Add(("messages[0].role", s => system["role"] = s));
            slots.Add(("messages[0].content", s => system["content"] = s));
            slots.Add(("messages[1].role", s => user["role"] = s));
            slots.Add(("messages[1].name", s => user["name"] = s));
            slots.Add(("messages[1].content[0].type", s => part["type"] = s));
            slots.Add(("messages[1].content[0].text", s => part["text"] = s));
        }
        else
        {
            slots.Add(("suffix", s => o["suffix"] = s));
        }
        return slots;
    }

    private MalformedBody BadTextInString(string path, bool chat)
    {
        var o = Base(chat);
        var (param, set) = Pick(StringSlots(o));
        set(Marker);
        byte[] bad = Pick(BadText);
        byte[] text = [.. Encoding.UTF8.GetBytes(Pick(Surroundings)), .. bad, .. Encoding.UTF8.GetBytes(_random.Next(2) == 0 ? "" : " and then")];
        return new MalformedBody(path, Splice(o, Marker, text), $"bad text {Describe(bad)} in {param}", BadText: true, param);
    }

    private MalformedBody BadTextInPropertyName(string path, bool chat)
    {
        var o = Base(chat);
        JsonObject target = o;
        string? param = null;
        if (chat && _random.Next(2) == 0)
        {
            int m = _random.Next(2);
            target = (JsonObject)((JsonArray)o["messages"]!)[m]!;
            param = $"messages[{m}]";
        }
        target["x" + Marker] = 1;
        byte[] bad = Pick(BadText);
        return new MalformedBody(path, Splice(o, Marker, bad), $"bad text {Describe(bad)} in a property name of {param ?? "the root"}", BadText: true, param);
    }

    /// <summary>A valid request cut short: every proper prefix of a compact JSON object is incomplete.</summary>
    private MalformedBody Truncated(string path, bool chat)
    {
        byte[] whole = Encoding.UTF8.GetBytes(Base(chat).ToJsonString());
        int length = _random.Next(whole.Length);
        return new MalformedBody(path, whole[..length], $"truncated at {length} of {whole.Length}");
    }

    private MalformedBody BadValue(string path, bool chat)
    {
        var table = _random.Next(2) == 0 ? CommonBadValues : chat ? ChatBadValues : CompletionBadValues;
        var (field, values) = Pick(table);
        string value = Pick(values);
        var o = Base(chat);
        if (field == "stream_options") o.Remove("stream"); // options without streaming are refused whatever they hold
        if (field == "top_logprobs") o.Remove("logprobs");
        o[field] = Marker;
        return new MalformedBody(path, Splice(o, $"\"{Marker}\"", Encoding.UTF8.GetBytes(value)), $"{field} = {value}");
    }

    /// <summary>Nesting past the parser's 64 levels, in a field the server would otherwise ignore.</summary>
    private MalformedBody DeeplyNested(string path, bool chat)
    {
        int depth = 65 + _random.Next(400);
        bool arrays = _random.Next(2) == 0;
        var junk = new StringBuilder();
        for (int i = 0; i < depth; i++) junk.Append(arrays ? "[" : "{\"a\":");
        junk.Append('1');
        for (int i = 0; i < depth; i++) junk.Append(arrays ? ']' : '}');
        var o = Base(chat);
        o["extra"] = Marker;
        return new MalformedBody(path, Splice(o, $"\"{Marker}\"", Encoding.UTF8.GetBytes(junk.ToString())), $"nested {depth} deep");
    }

    private MalformedBody Garbage(string path)
    {
        if (_random.Next(2) == 0)
        {
            var bytes = new byte[1 + _random.Next(200)];
            _random.NextBytes(bytes);
            return new MalformedBody(path, bytes, "random bytes");
        }
        var text = new StringBuilder();
        int pieces = 1 + _random.Next(40);
        for (int i = 0; i < pieces; i++) text.Append(Pick(Junk));
        return new MalformedBody(path, Encoding.UTF8.GetBytes(text.ToString()), "JSON-like junk");
    }

    private MalformedBody MissingField(string path, bool chat)
    {
        var o = Base(chat);
        string field = _random.Next(2) == 0 ? "model" : chat ? "messages" : "prompt";
        o.Remove(field);
        return new MalformedBody(path, Encoding.UTF8.GetBytes(o.ToJsonString()), $"no {field}");
    }

    /// <summary>The request serialized, with the first occurrence of <paramref name="marker"/> replaced by raw bytes.</summary>
    private static byte[] Splice(JsonObject o, string marker, byte[] raw)
    {
        byte[] json = Encoding.UTF8.GetBytes(o.ToJsonString());
        int at = json.AsSpan().IndexOf(Encoding.UTF8.GetBytes(marker));
        if (at < 0) throw new InvalidOperationException($"marker {marker} not in {o.ToJsonString()}");
        return [.. json[..at], .. raw, .. json[(at + marker.Length)..]];
    }

    private static string Describe(byte[] bad) =>
        bad.All(b => b is >= 0x20 and < 0x7F) ? Encoding.ASCII.GetString(bad) : Convert.ToHexString(bad);

    private T Pick<T>(IReadOnlyList<T> items) => items[_random.Next(items.Count)];
}
