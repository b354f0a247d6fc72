using System.Collections;
using System.CommandLine;
using System.CommandLine.Completions;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Tandem.Cli.Commands;

namespace Tandem.Cli.Tests;

/// <summary>
/// <c>tandem serve</c>'s options from the command line, TANDEM_* variables and a <c>--config</c> JSON file, in that
/// order of precedence — checked over every option the command has, so options added later are held to it too.
/// </summary>
public sealed class LayeredOptionsTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static RootCommand Root() => TandemApp.BuildRoot(new CliConsole(TextWriter.Null, TextWriter.Null));

    private static Command Serve(RootCommand root) => root.Subcommands.Single(c => c.Name == ServeCommand.Name);

    private static ParseResult Parse(RootCommand root, string[] args, Dictionary<string, string> env) =>
        LayeredOptions.Parse(root, args, root.Parse(args), n => env.GetValueOrDefault(n), out _);

    /// <summary>A value the option accepts: one of its allowed values, else one of its type.</summary>
    private static string Sample(Option option)
    {
        var allowed = option.GetCompletions(CompletionContext.Empty).Select(c => c.Label).ToList();
        if (allowed.Count > 0 && option.ValueType != typeof(bool)) return allowed[^1];
        var type = Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType;
        if (type == typeof(bool)) return "true";
        if (type == typeof(int) || type == typeof(long) || type == typeof(ulong)) return "7";
        if (type == typeof(double) || type == typeof(float)) return "2.5";
        if (type == typeof(string) || type == typeof(string[])) return "sample-value";
        Assert.Fail($"{option.Name} is of type {option.ValueType.Name}: give this test a sample value for it");
        return "";
    }

    private static string? Text(object? value) => value switch
    {
        null => null,
        bool b => b ? "true" : "false",
        string s => s,
        IEnumerable e => string.Join(",", e.Cast<object>().Select(x => Convert.ToString(x, CultureInfo.InvariantCulture))),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture),
    };

    private static string? Value(ParseResult parse, Option option) =>
        Text(parse.GetResult(option)?.GetValueOrDefault<object>());

    [Fact]
    public void Every_serve_option_comes_from_its_variable_and_from_the_config_file()
    {
        var root = Root();
        var options = Serve(root).Options.Where(o => o.Name is not ("--help" or LayeredOptions.ConfigOptionName)).ToList();
        Assert.Contains(options, o => o.Name == "--kv-memory");
        foreach (var option in options)
        {
            string sample = Sample(option);
            string variable = LayeredOptions.EnvironmentVariable(option.Name);
            Assert.StartsWith("TANDEM_", variable);

            var fromEnv = Parse(root, ["serve"], new() { [variable] = sample });
            Assert.True(fromEnv.Errors.Count == 0, $"{variable}={sample}: {string.Join("; ", fromEnv.Errors.Select(e => e.Message))}");
            Assert.Equal(sample, Value(fromEnv, option));

            string file = Path.Combine(_dir, "serve.json");
            File.WriteAllText(file, JsonSerializer.Serialize(new Dictionary<string, string> { [option.Name.TrimStart('-')] = sample }));
            var fromFile = Parse(root, ["serve", "--config", file], []);
            Assert.True(fromFile.Errors.Count == 0, $"{option.Name} in a config file: {string.Join("; ", fromFile.Errors.Select(e => e.Message))}");
            Assert.Equal(sample, Value(fromFile, option));
        }
    }

    [Fact]
    public void The_command_line_wins_over_the_environment_which_wins_over_the_file()
    {
        var root = Root();
        var serve = Serve(root);
        var port = serve.Options.Single(o => o.Name == "--port");
        var kv = serve.Options.Single(o => o.Name == "--kv-memory");
        var name = serve.Options.Single(o => o.Name == "--served-model-name");
        string file = Path.Combine(_dir, "serve.json");
        // Keys with dashes, underscores or in camel case; numbers as JSON numbers; comments allowed.
        File.WriteAllText(file, """
            {
              // what the file says
              "port": 9001,
              "kv_memory": "1GiB",
              "servedModelName": "from-file"
            }
            """);
        var env = new Dictionary<string, string> { ["TANDEM_PORT"] = "9002", ["TANDEM_CONFIG"] = file, ["TANDEM_SERVED_MODEL_NAME"] = "from-env" };

        var all = Parse(root, ["serve", "--port", "9003"], env);
        Assert.Empty(all.Errors);
        Assert.Equal("9003", Value(all, port));        // command line
        Assert.Equal("from-env", Value(all, name));    // environment over file
        Assert.Equal("1GiB", Value(all, kv));          // file (via TANDEM_CONFIG)

        var noEnv = Parse(root, ["serve", "--config", file], []);
        Assert.Equal("9001", Value(noEnv, port));
        Assert.Equal("from-file", Value(noEnv, name));

        // Nothing set anywhere: the option's own default.
        var none = Parse(root, ["serve"], []);
        Assert.Equal("8000", Value(none, port));
    }

    [Fact]
    public void Mistakes_in_the_file_or_variables_are_named()
    {
        string file = Path.Combine(_dir, "bad.json");
        File.WriteAllText(file, """{"prot": 9001}""");
        var e = new StringWriter();
        Assert.Equal(1, TandemApp.Run(["serve", "--config", file], new CliConsole(TextWriter.Null, e)));
        Assert.Contains("sets 'prot', which is not an option of 'serve'", e.ToString());

        File.WriteAllText(file, "{ not json");
        e = new StringWriter();
        Assert.Equal(1, TandemApp.Run(["serve", "--config", file], new CliConsole(TextWriter.Null, e)));
        Assert.Contains("is not valid JSON", e.ToString());

        e = new StringWriter();
        Assert.Equal(1, TandemApp.Run(["serve", "--config", Path.Combine(_dir, "missing.json")], new CliConsole(TextWriter.Null, e)));
        Assert.Contains("missing.json does not exist", e.ToString());

        File.WriteAllText(file, """{"mode": "sideways"}""");
        var root = Root();
        var parse = Parse(root, ["serve", "--config", file], []);
        Assert.Contains(parse.Errors, x => x.Message.Contains("sideways", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_real_server_takes_its_options_from_all_three_places()
    {
        string file = Path.Combine(_dir, "serve.json");
        File.WriteAllText(file, """{"mode": "colocated", "cores-per-instance": 1, "served-model-name": "from-file", "port": 0}""");
        var env = new Dictionary<string, string?> { ["TANDEM_CONFIG"] = file, ["TANDEM_SERVED_MODEL_NAME"] = "from-env" };

        await using (var server = await ServeProcess.StartBareAsync(env, ["--model", TestPaths.Model("stories260K.gguf")]))
        {
            Assert.Contains("mode: colocated", server.Stdout);
            Assert.Equal("from-env", await server.ModelIdAsync());
        }
        await using (var server = await ServeProcess.StartBareAsync(env, ["--model", TestPaths.Model("stories260K.gguf"), "--served-model-name", "from-cli"]))
            Assert.Equal("from-cli", await server.ModelIdAsync());
    }
}
