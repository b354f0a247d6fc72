using System.CommandLine;
using System.Text.Json;

namespace Tandem.Cli;

/// <summary>
/// Every option of a command from three places, as vLLM and most servers take them: the command line, then an
/// environment variable <c>TANDEM_&lt;OPTION&gt;</c> (<c>--kv-memory</c> → <c>TANDEM_KV_MEMORY</c>), then a JSON config
/// file (<c>--config FILE</c> or <c>TANDEM_CONFIG</c>: <c>{"kv-memory": "1GiB", "port": 8001}</c>, keys the option names
/// without dashes, '-' or '_' alike). It works over the command's own option list, so an option added to the command
/// later is covered with no change here: a value from the environment or the file becomes command-line tokens ahead of
/// the user's own, and the parse does the rest (types, allowed values, help).
/// </summary>
public static class LayeredOptions
{
    public const string EnvironmentPrefix = "TANDEM_";
    public const string ConfigOptionName = "--config";

    /// <summary>Adds <c>--config</c> to <paramref name="command"/> and says in its description where options come from.</summary>
    public static void Enable(Command command)
    {
        command.Add(new Option<string?>(ConfigOptionName)
        {
            Description = $"JSON file of options, e.g. {{\"port\": 8001, \"kv-memory\": \"1GiB\"}} (also {EnvironmentVariable(ConfigOptionName)}); the command line wins over TANDEM_* variables, which win over the file",
        });
        command.Description += $" Every option can also be set by an environment variable {EnvironmentPrefix}<OPTION> (e.g. {EnvironmentVariable("--kv-memory")}) or in a --config file.";
    }

    /// <summary><c>--kv-memory</c> → <c>TANDEM_KV_MEMORY</c>.</summary>
    public static string EnvironmentVariable(string optionName) =>
        EnvironmentPrefix + optionName.TrimStart('-').Replace('-', '_').ToUpperInvariant();

    /// <summary>
    /// The parse of <paramref name="args"/> with the options the command line left out filled from
    /// <paramref name="environment"/> and the config file. <paramref name="sources"/> says where each filled one came from.
    /// </summary>
    public static ParseResult Parse(RootCommand root, string[] args, ParseResult first, Func<string, string?> environment, out IReadOnlyList<string> sources)
    {
        var command = first.CommandResult.Command;
        var fromFile = ReadConfigFile(first, command, environment);
        var added = new List<string>();
        var filled = new List<string>();
        foreach (var option in command.Options)
        {
            if (option.Name == ConfigOptionName || IsHelp(option) || first.GetResult(option) is { Implicit: false })
                continue;
            string variable = EnvironmentVariable(option.Name);
            if (environment(variable) is { } value)
            {
                added.AddRange(Tokens(option, [value]));
                filled.Add(variable);
            }
            else if (fromFile.Values.TryGetValue(Key(option.Name), out var values))
            {
                added.AddRange(Tokens(option, values));
                filled.Add($"{option.Name.TrimStart('-')} in {fromFile.Path}");
            }
        }
        sources = filled;
        if (added.Count == 0) return first;
        // The layered options go right after the command's name, before the user's own tokens.
        int at = Array.FindIndex(args, a => a == command.Name);
        string[] layered = [.. args[..(at + 1)], .. added, .. args[(at + 1)..]];
        return root.Parse(layered);
    }

    private static bool IsHelp(Option option) => option.Name is "--help" || option.Aliases.Contains("-h");

    /// <summary>A value as tokens: a flag's "true"/"false" after its name, each of a list as one more occurrence.</summary>
    private static IEnumerable<string> Tokens(Option option, IReadOnlyList<string> values)
    {
        foreach (string v in values)
        {
            yield return option.Name;
            // Flags take what environment variables usually say (1/0, yes/no, on/off) as well as true/false.
            yield return option.ValueType == typeof(bool) ? v.Trim().ToLowerInvariant() switch
            {
                "1" or "yes" or "on" => "true",
                "0" or "no" or "off" or "" => "false",
                _ => v,
            } : v;
        }
    }

    /// <summary>Option names and file keys compare without dashes and case: "kv-memory", "kv_memory", "KvMemory" are one.</summary>
    private static string Key(string name) => name.TrimStart('-').Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal).ToUpperInvariant();

    private sealed record ConfigFile(string? Path, IReadOnlyDictionary<string, IReadOnlyList<string>> Values);

    private static ConfigFile ReadConfigFile(ParseResult first, Command command, Func<string, string?> environment)
    {
        var option = command.Options.FirstOrDefault(o => o.Name == ConfigOptionName);
        string? path = option is null ? null
            : first.GetResult(option) is { Implicit: false } ? first.GetValue((Option<string?>)option)
            : environment(EnvironmentVariable(ConfigOptionName));
        if (string.IsNullOrEmpty(path))
            return new ConfigFile(null, new Dictionary<string, IReadOnlyList<string>>());
        if (!File.Exists(path))
            throw new CliUsageException($"{ConfigOptionName}: {path} does not exist");
        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new CliUsageException($"{ConfigOptionName}: {path} is not valid JSON: {e.Message}");
        }
        using (json)
        {
            if (json.RootElement.ValueKind != JsonValueKind.Object)
                throw new CliUsageException($"{ConfigOptionName}: {path} must hold one JSON object of options, e.g. {{\"port\": 8001}}");
            var known = command.Options.Where(o => o.Name != ConfigOptionName && !IsHelp(o)).ToDictionary(o => Key(o.Name), o => o);
            var values = new Dictionary<string, IReadOnlyList<string>>();
            foreach (var property in json.RootElement.EnumerateObject())
            {
                if (!known.TryGetValue(Key(property.Name), out var target))
                    throw new CliUsageException($"{ConfigOptionName}: {path} sets '{property.Name}', which is not an option of '{command.Name}' (see {command.Name} --help)");
                if (property.Value.ValueKind == JsonValueKind.Null)
                    continue;
                var items = property.Value.ValueKind == JsonValueKind.Array ? property.Value.EnumerateArray().ToList() : [property.Value];
                values[Key(target.Name)] = items.Select(v => Text(v, path, property.Name)).ToList();
            }
            return new ConfigFile(path, values);
        }
    }

    private static string Text(JsonElement value, string path, string name) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Number => value.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => throw new CliUsageException($"{ConfigOptionName}: {path}: '{name}' must be a string, number, boolean or a list of them"),
    };
}
