using System.Text.Json;
using System.Text.RegularExpressions;

namespace Tandem.Deploy.Tests;

/// <summary>
/// What the Dockerfile's last stage (the image that runs) says about the container: its base, user, working
/// directory, ports and the ENTRYPOINT and CMD a pod runs when its manifest gives only <c>args</c>. Instructions are
/// read as Docker reads them: one per line after joining backslash continuations, comments skipped.
/// </summary>
internal sealed partial class DockerfileImage
{
    /// <summary>Each stage's base image, in order.</summary>
    public required IReadOnlyList<string> Stages { get; init; }
    public required string BaseImage { get; init; }
    public required string? User { get; init; }
    public required string WorkDir { get; init; }
    public required IReadOnlyList<int> ExposedPorts { get; init; }
    public required IReadOnlyList<string> Entrypoint { get; init; }
    public required IReadOnlyList<string> Cmd { get; init; }
    /// <summary>The environment a container of the image starts with: the base image's, then the last stage's ENV.</summary>
    public required IReadOnlyDictionary<string, string> Environment { get; init; }
    /// <summary>The last stage's instructions (keyword in capitals, then the rest of the line).</summary>
    public required IReadOnlyList<(string Keyword, string Arguments)> Instructions { get; init; }

    public static DockerfileImage Load(string path)
    {
        var lines = new List<string>();
        string pending = "";
        foreach (string raw in File.ReadAllLines(path))
        {
            string line = raw.TrimEnd();
            if (pending.Length == 0 && (line.TrimStart().StartsWith('#') || line.Trim().Length == 0)) continue;
            if (line.EndsWith('\\')) { pending += line[..^1] + " "; continue; }
            lines.Add((pending + line).Trim());
            pending = "";
        }
        var stages = new List<string>();
        var last = new List<(string, string)>();
        foreach (string line in lines)
        {
            var m = Instruction().Match(line);
            if (!m.Success) throw new InvalidOperationException($"{path}: cannot read '{line}'");
            string keyword = m.Groups[1].Value.ToUpperInvariant(), rest = m.Groups[2].Value.Trim();
            if (keyword == "FROM")
            {
                // FROM [--platform=...] image [AS name]: the image.
                stages.Add(rest.Split(' ', StringSplitOptions.RemoveEmptyEntries).First(t => !t.StartsWith("--", StringComparison.Ordinal)));
                last.Clear();
            }
            last.Add((keyword, rest));
        }
        if (stages.Count == 0) throw new InvalidOperationException($"{path} has no FROM");
        string? Last(string keyword) => last.LastOrDefault(i => i.Item1 == keyword).Item2;
        return new DockerfileImage
        {
            Stages = stages,
            BaseImage = stages[^1],
            User = Last("USER"),
            WorkDir = Last("WORKDIR") ?? "/",
            ExposedPorts = last.Where(i => i.Item1 == "EXPOSE").SelectMany(i => i.Item2.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Select(p => int.Parse(p.Split('/')[0])).ToList(),
            Entrypoint = ExecForm(Last("ENTRYPOINT"), "ENTRYPOINT"),
            Cmd = ExecForm(Last("CMD"), "CMD"),
            Instructions = last,
            Environment = Env(last),
        };
    }

    /// <summary>
    /// What Microsoft's .NET images set (documented for mcr.microsoft.com/dotnet/aspnet since .NET 8), which the
    /// image inherits: a container starts with these unless the Dockerfile changes them.
    /// </summary>
    private static readonly IReadOnlyDictionary<string, string> DotnetBaseImageEnvironment = new Dictionary<string, string>
    {
        ["APP_UID"] = "1654",
        ["ASPNETCORE_HTTP_PORTS"] = "8080",
        ["DOTNET_RUNNING_IN_CONTAINER"] = "true",
    };

    /// <summary>The base image's environment overlaid with the stage's <c>ENV KEY=value</c> instructions.</summary>
    private static IReadOnlyDictionary<string, string> Env(IEnumerable<(string Keyword, string Arguments)> stage)
    {
        var env = new Dictionary<string, string>(DotnetBaseImageEnvironment);
        foreach (var (_, arguments) in stage.Where(i => i.Keyword == "ENV"))
        {
            int eq = arguments.IndexOf('=');
            if (eq <= 0 || arguments.IndexOf(' ') is int space && space >= 0 && space < eq)
                throw new InvalidOperationException($"ENV {arguments}: write ENV KEY=value, one per instruction");
            env[arguments[..eq]] = arguments[(eq + 1)..].Trim('"');
        }
        return env;
    }

    /// <summary>
    /// The exec (JSON array) form: the shell form would run under /bin/sh -c, where SIGTERM reaches the shell and not
    /// the server, so the drain on SIGTERM would never start.
    /// </summary>
    private static IReadOnlyList<string> ExecForm(string? value, string keyword)
    {
        if (value is null) return [];
        if (!value.StartsWith('[')) throw new InvalidOperationException($"{keyword} {value}: use the exec form [\"...\"] so SIGTERM reaches the server");
        return JsonSerializer.Deserialize<string[]>(value) ?? [];
    }

    [GeneratedRegex(@"^([A-Za-z]+)\s*(.*)$")]
    private static partial Regex Instruction();
}
