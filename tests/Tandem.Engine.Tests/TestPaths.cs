namespace Tandem.Engine.Tests;

/// <summary>Locates the repository root and the shared test models (../shared/models beside the repo).</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string SharedModels => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "models"));

    public static string Model(string fileName) => Path.Combine(SharedModels, fileName);

    public static string Vocab(string fileName) => Path.Combine(SharedModels, "vocab", fileName);

    /// <summary>A fresh temporary directory under the system temp folder.</summary>
    public static string NewTempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "tandem-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Tandem.slnx")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (Tandem.slnx) above " + AppContext.BaseDirectory);
    }
}
