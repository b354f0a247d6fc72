using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Tandem.Deploy.Tests;

/// <summary>
/// The options the real <c>tandem serve</c> accepts, read from its <c>--help</c> (the built CLI, run as a process):
/// each flag with the values it is limited to, where the help lists them as <c>&lt;a|b|c&gt;</c>.
/// </summary>
internal sealed partial class ServeHelp
{
    private static readonly Lazy<ServeHelp> Cached = new(Read);

    private ServeHelp(string text, IReadOnlyDictionary<string, IReadOnlyList<string>?> options)
    {
        Text = text;
        Options = options;
    }

    public static ServeHelp Instance => Cached.Value;

    public string Text { get; }

    /// <summary>Flag (e.g. <c>--port</c>) → the values it accepts, or null where any value goes.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>?> Options { get; }

    public bool Accepts(string flag) => Options.ContainsKey(flag);

    private static ServeHelp Read()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = DeployPaths.AppDir };
        foreach (string a in new[] { "tandem.dll", "serve", "--help" }) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string text = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(60_000))
        {
            process.Kill();
            throw new InvalidOperationException("tandem serve --help did not exit within 60 s");
        }
        if (process.ExitCode != 0) throw new InvalidOperationException($"tandem serve --help exited {process.ExitCode}: {stderr.Result}");
        var options = new Dictionary<string, IReadOnlyList<string>?>();
        foreach (Match m in OptionLine().Matches(text))
        {
            IReadOnlyList<string>? values = m.Groups["values"].Success && m.Groups["values"].Value.Contains('|')
                ? m.Groups["values"].Value.Split('|')
                : null;
            foreach (Capture flag in m.Groups["flag"].Captures) options[flag.Value] = values;
        }
        if (!options.ContainsKey("--model")) throw new InvalidOperationException($"no --model in tandem serve --help:\n{text}");
        return new ServeHelp(text, options);
    }

    /// <summary>A line of System.CommandLine's option list: "  -m, --model &lt;model&gt; (REQUIRED)  GGUF model file".</summary>
    [GeneratedRegex(@"^\s+(?:(?:-[\w?]|(?<flag>--[a-z][a-z0-9-]*)),?\s*)+(?:<(?<values>[^>]*)>)?", RegexOptions.Multiline)]
    private static partial Regex OptionLine();
}
