namespace Tandem.Cli.Tests;

/// <summary>
/// The repository as a user gets it: a clean <c>git clone</c> of the committed tree into a temporary folder, where
/// <c>../shared</c> (the test models) does not exist, and the README's run command run there once — which builds the
/// CLI from nothing (the NuGet cache is reused), so the fixture takes a minute or two. The tests on it share that build.
/// </summary>
public sealed class CleanClone : IAsyncLifetime
{
    /// <summary>The test collection that shares one clone and its build.</summary>
    public const string Collection = "clean clone";

    public string Root { get; } = TestPaths.NewTempDir();
    public string Directory => Path.Combine(Root, "tandem");

    /// <summary>The README's run command, as written there.</summary>
    public string RunCommand { get; private set; } = "";

    /// <summary>What that command did in the clone.</summary>
    public CliRun Run { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        RunCommand = Readme.RunCommand();
        var git = await CliProcess.RunAsync("git", ["clone", "--quiet", "--no-hardlinks", TestPaths.RepoRoot, Directory], Root,
            new Dictionary<string, string?>(), TimeSpan.FromMinutes(2));
        Assert.True(git.ExitCode == 0, git.ToString());
        Run = await CliProcess.ShellAsync(RunCommand, Directory, TimeSpan.FromMinutes(10));
    }

    public async Task<CliRun> ShellAsync(string commandLine, TimeSpan limit) => await CliProcess.ShellAsync(commandLine, Directory, limit);

    public Task DisposeAsync()
    {
        System.IO.Directory.Delete(Root, recursive: true);
        return Task.CompletedTask;
    }
}

[CollectionDefinition(CleanClone.Collection)]
public sealed class CleanCloneCollection : ICollectionFixture<CleanClone>;
