using Tandem.Engine.Tests;

namespace Tandem.Deploy.Tests;

/// <summary>Where the deployment files and the CLI the containers run are.</summary>
internal static class DeployPaths
{
    public static string KubernetesDir => Path.Combine(TestPaths.RepoRoot, "deploy", "kubernetes");

    public static string Dockerfile => Path.Combine(TestPaths.RepoRoot, "Dockerfile");

    public static string DockerIgnore => Path.Combine(TestPaths.RepoRoot, ".dockerignore");

    public static string Readme => Path.Combine(TestPaths.RepoRoot, "README.md");

    /// <summary>The CLI built beside the tests: what <c>dotnet publish</c> puts in the image's /app.</summary>
    public static string AppDir => AppContext.BaseDirectory;

    /// <summary>The model every local pod gets in place of the cluster's model volume.</summary>
    public static string Model => TestPaths.Model("stories260K.gguf");
}
