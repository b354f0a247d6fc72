namespace Tandem.Deploy.Tests;

/// <summary>The Dockerfile: a multi-stage publish of the CLI onto the ASP.NET Core runtime, run as a non-root user, and its default command serving for real.</summary>
public sealed class DockerfileTests
{
    private static readonly DockerfileImage Image = DockerfileImage.Load(DeployPaths.Dockerfile);

    [Fact]
    public void Builds_in_an_sdk_stage_and_runs_on_the_aspnet_runtime_as_a_non_root_user()
    {
        Assert.True(Image.Stages.Count >= 2, "multi-stage: the SDK stays out of the image that runs");
        Assert.StartsWith("mcr.microsoft.com/dotnet/sdk:", Image.Stages[0]);
        Assert.StartsWith("mcr.microsoft.com/dotnet/aspnet:", Image.BaseImage);
        Assert.Contains(Image.Instructions, i => i.Keyword == "COPY" && i.Arguments.StartsWith("--from=build ", StringComparison.Ordinal));
        Assert.False(Image.User is null or "root" or "0" or "0:0", $"the image runs as '{Image.User ?? "root"}'");
        Assert.Equal(["dotnet", "tandem.dll"], Image.Entrypoint);
        Assert.Equal("serve", Image.Cmd[0]);
        // The container's port: every port a manifest's container declares is one the image exposes.
        var manifests = KubernetesManifests.Load();
        foreach (var d in manifests.Deployments)
            Assert.All(ContainerArgs.Container(d).Ports, p => Assert.Contains(p.ContainerPort, Image.ExposedPorts));
    }

    [Fact]
    public void The_build_publishes_the_cli_from_files_the_context_keeps()
    {
        string dockerfile = File.ReadAllText(DeployPaths.Dockerfile);
        Assert.Contains("dotnet publish src/Tandem.Cli/Tandem.Cli.csproj -c Release", dockerfile);
        var ignored = File.ReadAllLines(DeployPaths.DockerIgnore).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        foreach (var (keyword, rest) in AllCopies())
        {
            foreach (string source in rest.Split(' ', StringSplitOptions.RemoveEmptyEntries).SkipLast(1))
            {
                Assert.True(File.Exists(Path.Combine(Engine.Tests.TestPaths.RepoRoot, source)) || Directory.Exists(Path.Combine(Engine.Tests.TestPaths.RepoRoot, source)),
                    $"{keyword} {rest}: {source} is not in the repository");
                Assert.DoesNotContain(source.TrimEnd('/') + "/", ignored);
            }
        }
        // Build outputs and models stay out of the build context (a model is mounted, never baked in).
        Assert.Contains("**/bin/", ignored);
        Assert.Contains("**/obj/", ignored);
        Assert.Contains("*.gguf", ignored);
    }

    /// <summary>The COPY instructions that take files from the build context (not from another stage).</summary>
    private static IEnumerable<(string, string)> AllCopies() =>
        File.ReadAllLines(DeployPaths.Dockerfile).Select(l => l.Trim())
            .Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from=", StringComparison.Ordinal))
            .Select(l => ("COPY", l[5..].Trim()));

    [Fact]
    public async Task The_default_command_serves_the_mounted_model_and_answers_the_probes()
    {
        // `docker run -v models:/models tandem`: ENTRYPOINT + CMD, /models mounted, the exposed port published.
        var manifests = KubernetesManifests.Load();
        var frontend = ContainerArgs.Container(manifests.Deployments.Single(d => ManifestTests.Role(d) == "frontend"));
        int port = int.Parse(Image.Cmd[Image.Cmd.ToList().IndexOf("--port") + 1]);
        Assert.Contains(port, Image.ExposedPorts);
        var spec = new k8s.Models.V1PodSpec
        {
            Containers =
            [
                new k8s.Models.V1Container
                {
                    Name = "docker-run",
                    Ports = [new k8s.Models.V1ContainerPort { ContainerPort = port }],
                    VolumeMounts = [new k8s.Models.V1VolumeMount { Name = "models", MountPath = "/models", ReadOnlyProperty = true }],
                },
            ],
            Volumes = [new k8s.Models.V1Volume { Name = "models", PersistentVolumeClaim = new() { ClaimName = "tandem-models" } }],
        };
        using var cluster = new LocalCluster(manifests, Image);
        var pod = cluster.Start("docker-run", spec);
        // The probes the Kubernetes manifests send, on the port the image serves.
        var readiness = WithPort(frontend.ReadinessProbe, port);
        var liveness = WithPort(frontend.LivenessProbe, port);
        await pod.WaitUntilAsync(readiness, "readiness");
        Assert.Equal(System.Net.HttpStatusCode.OK, await pod.ProbeAsync(liveness));
        Assert.Contains("model: model (", pod.Output); // the served name comes from the mounted file
        // The base image's default port (8080) must not linger beside the one tandem serve is told to use.
        Assert.DoesNotContain("Overriding address", pod.Output);
    }

    private static k8s.Models.V1Probe WithPort(k8s.Models.V1Probe probe, int port) =>
        new() { HttpGet = new k8s.Models.V1HTTPGetAction { Path = probe.HttpGet.Path, Port = port } };
}
