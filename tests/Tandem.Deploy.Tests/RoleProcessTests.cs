using System.Net;

namespace Tandem.Deploy.Tests;

/// <summary>
/// Each role's pod from deploy/kubernetes/ started as a local process with its container command and arguments
/// (LocalPod says what is translated), its readiness probe sent until it passes, then its liveness and startup
/// probes. The frontend's workers come from the Deployments behind the Services its arguments name, started first,
/// so the frontend turns ready only by reaching them with the cluster token.
/// </summary>
public sealed class RoleProcessTests
{
    [SkippableTheory]
    [InlineData("tandem-prefill")]
    [InlineData("tandem-decode")]
    [InlineData("tandem-frontend")]
    public async Task The_role_starts_from_its_manifest_and_answers_its_probes(string deploymentName)
    {
        var manifests = KubernetesManifests.Load();
        var deployment = manifests.Deployment(deploymentName);
        string role = ManifestTests.Role(deployment);
        Skip.IfNot(ServeHelp.Instance.Accepts("--role"),
            $"tandem serve has no --role yet (the runtime half of issue 10 is not merged): the {role} role cannot start");

        using var cluster = new LocalCluster(manifests, DockerfileImage.Load(DeployPaths.Dockerfile));
        // The workers a frontend lists, through their Services: every Deployment a Service named in its arguments selects.
        var args = ContainerArgs.Container(deployment).Args ?? [];
        var needed = manifests.Services.Where(s => args.Any(a => a.Split(',').Any(item => item.Split(':')[0].Split('.')[0] == s.Metadata.Name)))
            .SelectMany(manifests.Backing).Distinct().ToList();
        foreach (var worker in needed)
        {
            var pod = cluster.Start(worker);
            await pod.WaitUntilAsync(ContainerArgs.Container(worker).ReadinessProbe, "readiness");
        }

        var started = cluster.Start(deployment);
        var container = ContainerArgs.Container(deployment);
        await started.WaitUntilAsync(container.ReadinessProbe, "readiness");
        Assert.Equal(HttpStatusCode.OK, await started.ProbeAsync(container.LivenessProbe));
        Assert.Equal(HttpStatusCode.OK, await started.ProbeAsync(container.StartupProbe));
    }
}
