using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Tandem.Engine.Tests;
using Tandem.Server.Protocol;

namespace Tandem.Server.Tests;

/// <summary>
/// The server README's field table, the table the parsers check against (<see cref="RequestFieldTable"/>), and what
/// a real server does with each field, held together: a supported field must be read (a value of the wrong type is
/// refused naming it), an ignored one accepted, a refused one refused by name, an unlisted one refused.
/// </summary>
public sealed partial class FieldTableTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly Dictionary<string, FieldStatus> StatusWords = new()
    {
        ["supported"] = FieldStatus.Supported,
        ["ignored"] = FieldStatus.Ignored,
        ["refused"] = FieldStatus.Refused,
    };

    /// <summary>(endpoint, field, status) for every row of the README's table.</summary>
    private static HashSet<(string, string, FieldStatus)> ReadmeRows()
    {
        string readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "src", "Tandem.Server", "README.md"));
        int start = readme.IndexOf("### Every field", StringComparison.Ordinal);
        Assert.True(start >= 0, "the server README has no '### Every field' section");
        int end = readme.IndexOf("\n## ", start, StringComparison.Ordinal);
        var rows = new HashSet<(string, string, FieldStatus)>();
        foreach (var line in readme[start..end].Split('\n'))
        {
            var m = Row().Match(line);
            if (!m.Success) continue;
            Assert.True(StatusWords.TryGetValue(m.Groups["status"].Value, out var status), $"unknown status in: {line}");
            foreach (Match endpoint in Code().Matches(m.Groups["endpoints"].Value))
                Assert.True(rows.Add((endpoint.Groups[1].Value, m.Groups["field"].Value, status)), $"listed twice: {line}");
        }
        return rows;
    }

    [Fact]
    public void The_readme_table_is_the_table_the_parsers_check()
    {
        var code = RequestFieldTable.Endpoints.SelectMany(e => e.Value.Values.Select(f => (e.Key, f.Name, f.Status))).ToHashSet();
        var readme = ReadmeRows();
        Assert.Empty(code.Except(readme).Select(r => $"missing from the README: {r}"));
        Assert.Empty(readme.Except(code).Select(r => $"in the README, not in RequestFieldTable: {r}"));
    }

    private static JsonObject ValidBody(string endpoint) => endpoint switch
    {
        RequestFieldTable.Completions => ApiCalls.Completion(References.OnceUponATime, 1),
        RequestFieldTable.Chat => new JsonObject
        {
            ["model"] = RunningServer.ModelName, ["max_tokens"] = 1, ["temperature"] = 0,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi" }),
        },
        RequestFieldTable.Tokenize => new JsonObject { ["prompt"] = "Hi" },
        RequestFieldTable.Detokenize => new JsonObject { ["tokens"] = new JsonArray(1, 2) },
        _ => throw new ArgumentException(endpoint),
    };

    public static TheoryData<string> Endpoints => new(RequestFieldTable.Endpoints.Keys);

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task Each_field_does_what_the_table_says(string endpoint)
    {
        var http = fixture.Server.Http;
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync(endpoint, ValidBody(endpoint))).Status);
        var failures = new List<string>();
        foreach (var field in RequestFieldTable.Endpoints[endpoint].Values)
        {
            var body = ValidBody(endpoint);
            // An object where the field wants something else: only a parser that reads the field notices.
            // (chat_template_kwargs takes any object of variables: a string is its wrong type.)
            body[field.Name] = field.Status is FieldStatus.Supported
                ? field.Name == "chat_template_kwargs" ? "not an object" : new JsonObject { ["not"] = new JsonArray("what", "it", "takes") }
                : "not a harmless value";
            var reply = await http.PostAsync(endpoint, body);
            string? param = reply.Body.TryGetProperty("error", out var error) ? error.GetProperty("param").GetString() : null;
            bool ok = field.Status switch
            {
                FieldStatus.Ignored => reply.Status == HttpStatusCode.OK,
                // A parser that reads inside the field (structured output) names the part it refused: "response_format.type".
                _ => (int)reply.Status is >= 400 and < 500 && (param == field.Name || param?.StartsWith(field.Name + ".", StringComparison.Ordinal) == true),
            };
            if (!ok) failures.Add($"{field.Name} ({field.Status}): {(int)reply.Status} {reply.Body}");
        }
        var unknown = ValidBody(endpoint);
        unknown["no_such_field"] = 1;
        var refused = await http.PostAsync(endpoint, unknown);
        ApiCalls.AssertError(refused, HttpStatusCode.BadRequest, param: "no_such_field", code: "unknown_parameter");
        unknown["no_such_field"] = null; // null is absent, as everywhere
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync(endpoint, unknown)).Status);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [GeneratedRegex(@"^\| (?<endpoints>[^|]+) \| `(?<field>[a-z_]+)` \| (?<status>[a-z ]+) \| .* \|$")]
    private static partial Regex Row();

    [GeneratedRegex(@"`([^`]+)`")]
    private static partial Regex Code();
}
