using System.IO.Compression;
using System.Xml.Linq;

namespace Tandem.Cli.Tests;

/// <summary>
/// <c>dotnet pack</c> in a fresh clone (<see cref="CleanClone"/>, whose build it reuses): the libraries with their NuGet
/// metadata (id, description, licence, readme, Source Link repository and commit, symbols), the CLI as a .NET tool that
/// installs from the local folder alone and runs. Slow: it packs eight projects and installs an 80 MB tool (the
/// plotting packages' native libraries for every platform).
/// </summary>
[Collection(CleanClone.Collection)]
public sealed class PackagingTests(CleanClone clone)
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    /// <summary>A bound on the pack, which builds what the run left unbuilt and zips an 80 MB tool: 14 min at load ~50.</summary>
    private static readonly TimeSpan PackLimit = TimeSpan.FromMinutes(20);

    /// <summary>The projects <c>dotnet pack</c> makes packages of: every library and the CLI.</summary>
    private static readonly string[] Packed =
        ["Tandem.Engine", "Tandem.Serving", "Tandem.Server", "Tandem.Planning", "Tandem.Benchmark", "Tandem.Hub", "Tandem.Extensions.AI", "Tandem.Cli"];

    [Fact]
    public async Task The_libraries_pack_with_their_metadata_and_the_cli_installs_as_a_dotnet_tool()
    {
        Assert.True(clone.Run.ExitCode == 0, clone.Run.ToString());
        string output = Path.Combine(clone.Root, "packages");
        // One MSBuild run packs them all, through a solution of the packable projects alone (the test projects stay
        // unbuilt). Tandem.Server is on the Web SDK, which turns packing off unless the project turns it back on: the
        // missing package the first version of this test met.
        string solution = Path.Combine(clone.Directory, "packable.slnx");
        File.WriteAllText(solution, "<Solution>\n" + string.Concat(Packed.Select(p => $"  <Project Path=\"src/{p}/{p}.csproj\" />\n")) + "</Solution>\n");
        var pack = await clone.ShellAsync($"dotnet pack packable.slnx -c Release -o {output}", PackLimit);
        Assert.True(pack.ExitCode == 0, pack.ToString());

        string version = XDocument.Load(Path.Combine(clone.Directory, "Directory.Build.props")).Descendants("VersionPrefix").Single().Value;
        string commit = (await CliProcess.RunAsync("git", ["rev-parse", "HEAD"], clone.Directory, new Dictionary<string, string?>(), Limit)).Stdout.Trim();
        string licence = File.ReadAllText(Path.Combine(clone.Directory, "LICENSE"));
        Assert.Contains("MIT License", licence);
        foreach (string id in Packed)
        {
            string package = Path.Combine(output, $"{id}.{version}.nupkg");
            Assert.True(File.Exists(package),
                $"{id}: no {Path.GetFileName(package)} in {output}, which holds: {string.Join(", ", Directory.Exists(output) ? Directory.GetFiles(output).Select(Path.GetFileName) : [])}\n{pack}");
            Assert.True(File.Exists(Path.ChangeExtension(package, ".snupkg")), $"{id}: no symbol package");
            using var zip = ZipFile.OpenRead(package);
            var nuspec = Nuspec(zip);
            var ns = nuspec.Name.Namespace;
            var metadata = nuspec.Element(ns + "metadata")!;
            Assert.Equal(id, metadata.Element(ns + "id")?.Value);
            Assert.Equal(version, metadata.Element(ns + "version")?.Value);
            string description = metadata.Element(ns + "description")!.Value;
            Assert.True(description.Length > 40 && description != "Package Description", $"{id}: description '{description}'");
            Assert.Equal("Tandem contributors", metadata.Element(ns + "authors")?.Value);
            Assert.Equal("MIT", metadata.Element(ns + "license")?.Value);
            Assert.Equal("expression", metadata.Element(ns + "license")?.Attribute("type")?.Value);
            Assert.Equal(licence, ReadEntry(zip, "LICENSE"));
            Assert.Equal("README.md", metadata.Element(ns + "readme")?.Value);
            Assert.StartsWith("# Tandem", ReadEntry(zip, "README.md"));
            // The url is the clone's origin remote (a GitHub clone's https address; none in a repository without one).
            var repository = metadata.Element(ns + "repository");
            Assert.True(repository is not null, $"{id}: no <repository> (Source Link)");
            Assert.Equal("git", repository.Attribute("type")?.Value);
            Assert.Equal(commit, repository.Attribute("commit")?.Value);
        }

        // The tool: its package type, the bundled model inside, and an install from the local folder alone that runs.
        using (var zip = ZipFile.OpenRead(Path.Combine(output, $"Tandem.Cli.{version}.nupkg")))
        {
            Assert.Contains(zip.Entries, e => e.FullName.EndsWith("/models/stories260K.gguf", StringComparison.Ordinal));
            var nuspec = Nuspec(zip);
            Assert.Contains(nuspec.Descendants(nuspec.Name.Namespace + "packageType"), t => t.Attribute("name")?.Value == "DotnetTool");
        }
        // NuGet sees the local folder and nothing else; the install's own package cache is a fresh folder, so the
        // tool comes from this pack (not an older Tandem.Cli of the same version in the machine's cache) and the
        // machine's cache is left as it was.
        string config = Path.Combine(clone.Root, "nuget.config");
        File.WriteAllText(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration><packageSources><clear /><add key="local" value="{output}" /></packageSources></configuration>
            """);
        string tools = Path.Combine(clone.Root, "tools");
        string cache = Path.Combine(clone.Root, "nuget-packages");
        var install = await clone.ShellAsync(
            $"NUGET_PACKAGES={cache} dotnet tool install Tandem.Cli --version {version} --tool-path {tools} --configfile {config}", Limit);
        Assert.True(install.ExitCode == 0, install.ToString());
        Assert.Contains($"'tandem.cli' (version '{version}')", install.Stdout, StringComparison.OrdinalIgnoreCase);

        string tandem = Path.Combine(tools, "tandem");
        var versionRun = await clone.ShellAsync($"{tandem} --version", Limit);
        Assert.True(versionRun.ExitCode == 0, versionRun.ToString());
        Assert.StartsWith(version, versionRun.Stdout.Trim());
        var help = await clone.ShellAsync($"{tandem} --help", Limit);
        Assert.True(help.ExitCode == 0, help.ToString());
        Assert.Contains("generate", help.Stdout);
        Assert.Contains("serve", help.Stdout);
        // From another folder, so the model can only be the one inside the installed tool.
        var generate = await CliProcess.ShellAsync($"{tandem} generate --prompt \"Once upon a time\" --temperature 0 -n 32", tools, Limit);
        Assert.True(generate.ExitCode == 0, generate.ToString());
        Assert.Contains("using the bundled stories260K.gguf", generate.Stderr);
        Assert.StartsWith(FreshCloneTests.LlamaCppContinuation, generate.Stdout);
    }

    private static XElement Nuspec(ZipArchive zip) =>
        XDocument.Load(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open()).Root!;

    private static string ReadEntry(ZipArchive zip, string name)
    {
        var entry = zip.GetEntry(name);
        Assert.True(entry is not null, $"no {name} in the package");
        using var reader = new StreamReader(entry.Open());
        return reader.ReadToEnd();
    }
}
