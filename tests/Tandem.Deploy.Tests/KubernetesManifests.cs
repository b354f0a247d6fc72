using k8s;
using k8s.Models;
using YamlDotNet.RepresentationModel;

namespace Tandem.Deploy.Tests;

/// <summary>
/// deploy/kubernetes/ as the API server would decode it: every manifest loaded into the KubernetesClient models,
/// strictly (a field the schema does not have, such as a misspelt <c>readinessprobe</c>, is an error, as
/// <c>kubectl apply --validate=strict</c> makes it), and the kustomization that lists them.
/// </summary>
internal sealed class KubernetesManifests
{
    public const string KustomizationFile = "kustomization.yaml";

    private KubernetesManifests(IReadOnlyList<(string File, object Object)> objects, YamlMappingNode kustomization)
    {
        Objects = objects;
        Kustomization = kustomization;
    }

    /// <summary>Every object with the file it came from, in file order.</summary>
    public IReadOnlyList<(string File, object Object)> Objects { get; }

    public YamlMappingNode Kustomization { get; }

    public IEnumerable<V1Deployment> Deployments => Objects.Select(o => o.Object).OfType<V1Deployment>();

    public IEnumerable<V1Service> Services => Objects.Select(o => o.Object).OfType<V1Service>();

    public V1Deployment Deployment(string name) =>
        Deployments.SingleOrDefault(d => d.Metadata.Name == name) ?? throw new InvalidOperationException($"no Deployment {name} in {DeployPaths.KubernetesDir}");

    /// <summary>The Deployments whose pods a Service selects (a selector of labels, all of which a pod must carry).</summary>
    public IReadOnlyList<V1Deployment> Backing(V1Service service) =>
        Deployments.Where(d => service.Spec.Selector is { Count: > 0 } selector
                               && selector.All(l => d.Spec.Template.Metadata.Labels?.TryGetValue(l.Key, out var v) == true && v == l.Value)).ToList();

    /// <summary>The manifest files: every *.yaml in the folder but the kustomization.</summary>
    public static IReadOnlyList<string> ManifestFiles() =>
        Directory.GetFiles(DeployPaths.KubernetesDir, "*.yaml").Select(Path.GetFileName).OfType<string>()
            .Where(f => f != KustomizationFile).Order(StringComparer.Ordinal).ToList();

    public static KubernetesManifests Load()
    {
        var objects = new List<(string, object)>();
        foreach (string file in ManifestFiles())
        {
            string text = File.ReadAllText(Path.Combine(DeployPaths.KubernetesDir, file));
            List<object> loaded;
            try
            {
                loaded = KubernetesYaml.LoadAllFromString(text, typeMap: null, strict: true);
            }
            catch (Exception e)
            {
                throw new InvalidOperationException($"{file} does not load as Kubernetes objects: {e.Message}", e);
            }
            objects.AddRange(loaded.Select(o => (file, o)));
        }
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(DeployPaths.KubernetesDir, KustomizationFile)))
            yaml.Load(reader);
        return new KubernetesManifests(objects, (YamlMappingNode)yaml.Documents.Single().RootNode);
    }

    /// <summary>A scalar field of the kustomization, or null.</summary>
    public string? KustomizationScalar(string key) =>
        Kustomization.Children.TryGetValue(new YamlScalarNode(key), out var node) ? ((YamlScalarNode)node).Value : null;

    /// <summary>A list field of the kustomization: its items as mappings or scalars.</summary>
    public IReadOnlyList<YamlNode> KustomizationList(string key) =>
        Kustomization.Children.TryGetValue(new YamlScalarNode(key), out var node) ? ((YamlSequenceNode)node).Children.ToList() : [];
}
