using System.Text.Json.Nodes;

namespace Tandem.Engine.Tests.Structured;

/// <summary>
/// Random JSON Schemas over every supported feature (objects with required and optional properties, with and
/// without additionalProperties, arrays, enums, consts, type lists, nested up to three levels, awkward property
/// names), and a fixed list of the shapes people use, for the property tests.
/// </summary>
public static class RandomSchemas
{
    public static readonly string[] Typical =
    [
        """{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"],"additionalProperties":false}""",
        """{"type":"object","properties":{"answer":{"enum":["yes","no","maybe"]},"confidence":{"type":"number"}},"required":["answer"]}""",
        """{"type":"object","properties":{"items":{"type":"array","items":{"type":"object","properties":{"id":{"type":"integer"},"ok":{"type":"boolean"}},"required":["id","ok"]}}},"required":["items"]}""",
        """{"type":"array","items":{"type":["integer","null"]}}""",
        """{"type":"object","properties":{"title":{"type":"string","description":"a title"},"meta":{"type":"object"}},"required":["title","meta"],"title":"Doc"}""",
        """{"enum":[1, 2.5, "x", true, null, {"k":[1]}]}""",
        """{"type":"object","properties":{"a\"b":{"const":"c\\d"},"ключ":{"type":"null"}},"required":["a\"b","ключ"]}""",
        """{"type":"integer"}""",
        """{"type":"object","additionalProperties":{"type":"boolean"}}""",
        """{"type":"object","properties":{"p":{"type":"object","properties":{"q":{"type":"object","properties":{"r":{"type":"array","items":{"type":"string"}}},"required":["r"]}},"required":["q"]}},"required":["p"],"additionalProperties":false}""",
    ];

    private static readonly string[] Names = ["id", "name", "a", "b\"q", "ключ", "x y", "tags", "über", "e\\s", "n1"];

    private static readonly Func<JsonNode?>[] Values =
    [
        () => 1, () => -2.5, () => "red", () => "a\"b", () => true, () => false, () => null,
        () => new JsonObject { ["k"] = new JsonArray(1, 2) }, () => new JsonArray(), () => "ü", () => 0,
    ];

    public static IEnumerable<string> Generate(int seed, int count)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
            yield return Schema(rng, 0).ToJsonString();
    }

    private static JsonNode Schema(Random rng, int depth)
    {
        int kind = rng.Next(depth < 3 ? 11 : 7);
        var s = new JsonObject();
        switch (kind)
        {
            case 0: s["type"] = "string"; break;
            case 1: s["type"] = "integer"; break;
            case 2: s["type"] = "number"; break;
            case 3: s["type"] = rng.Next(2) == 0 ? "boolean" : "null"; break;
            case 4:
                var values = new JsonArray();
                int n = 1 + rng.Next(4);
                for (int k = 0; k < n; k++) values.Add(Values[rng.Next(Values.Length)]());
                s["enum"] = values;
                break;
            case 5:
                s["const"] = Values[rng.Next(Values.Length)]();
                break;
            case 6:
                string[][] lists = [["string", "null"], ["integer", "boolean"], ["number", "string", "null"], ["integer", "number"]];
                s["type"] = new JsonArray(lists[rng.Next(lists.Length)].Select(t => (JsonNode?)t).ToArray());
                break;
            case 7 or 8:
                s["type"] = "array";
                if (rng.Next(4) != 0) s["items"] = Schema(rng, depth + 1);
                break;
            default:
                if (rng.Next(4) != 0) s["type"] = "object";
                var props = new JsonObject();
                var required = new JsonArray();
                int count = rng.Next(5);
                foreach (string name in Names.OrderBy(_ => rng.Next()).Take(count))
                {
                    props[name] = Schema(rng, depth + 1);
                    if (rng.Next(2) == 0) required.Add(name);
                }
                if (count > 0 || rng.Next(2) == 0) s["properties"] = props;
                if (required.Count > 0) s["required"] = required;
                int more = rng.Next(3);
                if (more == 1) s["additionalProperties"] = false;
                if (more == 2 && count == 0) s["additionalProperties"] = Schema(rng, depth + 1);
                if (rng.Next(3) == 0) s["description"] = "random";
                break;
        }
        return s;
    }
}
