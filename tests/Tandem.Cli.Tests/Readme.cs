using System.Text.RegularExpressions;

namespace Tandem.Cli.Tests;

/// <summary>What README.md tells users to type.</summary>
public static partial class Readme
{
    /// <summary>The first <c>dotnet run</c> line of the README's first shell block (the run command).</summary>
    public static string RunCommand()
    {
        string readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));
        var block = FirstShellBlock().Match(readme);
        Assert.True(block.Success, "README.md has no ```sh block");
        string? line = block.Groups[1].Value.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("dotnet run ", StringComparison.Ordinal));
        Assert.True(line is not null, "README.md's first ```sh block has no dotnet run line");
        return line;
    }

    [GeneratedRegex(@"```sh\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex FirstShellBlock();
}
