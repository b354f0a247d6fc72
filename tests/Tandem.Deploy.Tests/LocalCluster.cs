using System.Net;
using System.Net.Sockets;
using k8s.Models;

namespace Tandem.Deploy.Tests;

/// <summary>
/// What a cluster gives the pods of deploy/kubernetes/, stood in for on this machine: volumes are folders (the model
/// volume holds model.gguf, a link to the test model; emptyDir a fresh folder), Secrets are values the test chooses,
/// and a Service name resolves to the loopback addresses of the local pods behind it, as a headless Service's DNS
/// name resolves to its ready pods. Disposing kills every pod started through it.
/// </summary>
internal sealed class LocalCluster : IDisposable
{
    private readonly List<LocalPod> _pods = [];
    private readonly string _root = Path.Combine(Path.GetTempPath(), "tandem-deploy-tests", Guid.NewGuid().ToString("N"));

    public LocalCluster(KubernetesManifests manifests, DockerfileImage image)
    {
        Manifests = manifests;
        Image = image;
        ModelVolume = Path.Combine(_root, "models");
        Directory.CreateDirectory(ModelVolume);
        File.CreateSymbolicLink(Path.Combine(ModelVolume, "model.gguf"), DeployPaths.Model);
    }

    public KubernetesManifests Manifests { get; }

    public DockerfileImage Image { get; }

    /// <summary>The folder mounted wherever a pod mounts the model PersistentVolumeClaim.</summary>
    public string ModelVolume { get; }

    /// <summary>The cluster token the Secret would hold: random, so nothing else on the machine knows it.</summary>
    public string ClusterToken { get; } = Convert.ToHexString(Guid.NewGuid().ToByteArray()).ToLowerInvariant();

    public IReadOnlyList<LocalPod> Pods => _pods;

    /// <summary>The host folder for a pod volume: the model claim, or a fresh folder for an emptyDir.</summary>
    public string VolumeFolder(V1Volume volume)
    {
        if (volume.PersistentVolumeClaim is { } claim)
        {
            Assert.Contains(Manifests.Objects, o => o.Object is V1PersistentVolumeClaim c && c.Metadata.Name == claim.ClaimName);
            return ModelVolume;
        }
        if (volume.EmptyDir is not null)
        {
            string dir = Path.Combine(_root, "empty-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(dir);
            return dir;
        }
        throw new InvalidOperationException($"volume {volume.Name}: only persistentVolumeClaim and emptyDir volumes are stood in for here");
    }

    public string Secret(V1SecretKeySelector selector) => (selector.Name, selector.Key) switch
    {
        ("tandem-cluster-token", "token") => ClusterToken,
        _ => throw new InvalidOperationException($"no local value for secret {selector.Name}/{selector.Key}"),
    };

    /// <summary>
    /// "name:port" of a Service (also "name.namespace", "name.namespace.svc.cluster.local") → the loopback addresses of
    /// the started pods it selects, on the local ports their target container port got; null when the host is no
    /// Service of the manifests.
    /// </summary>
    public IReadOnlyList<string>? Resolve(string host, int port)
    {
        string name = host.Split('.')[0];
        var service = Manifests.Services.SingleOrDefault(s => s.Metadata.Name == name);
        if (service is null) return null;
        var servicePort = service.Spec.Ports.SingleOrDefault(p => p.Port == port)
            ?? throw new InvalidOperationException($"Service {name} has no port {port}");
        var backing = Manifests.Backing(service).Select(d => d.Metadata.Name).ToHashSet();
        var pods = _pods.Where(p => backing.Contains(p.Deployment)).ToList();
        if (pods.Count == 0) throw new InvalidOperationException($"Service {name} selects no started pod: start its Deployment first");
        return pods.Select(p => $"127.0.0.1:{p.LocalPort(servicePort.TargetPort ?? servicePort.Port)}").ToList();
    }

    /// <summary>Starts one replica of a Deployment's pod (its first container) as a local process.</summary>
    public LocalPod Start(V1Deployment deployment) => Start(deployment.Metadata.Name, deployment.Spec.Template.Spec);

    public LocalPod Start(string name, V1PodSpec spec)
    {
        var pod = LocalPod.Start(name, spec, this);
        _pods.Add(pod);
        return pod;
    }

    /// <summary>A loopback port free at the moment of asking (the OS's next ephemeral port).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        foreach (var pod in _pods) pod.Dispose();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
