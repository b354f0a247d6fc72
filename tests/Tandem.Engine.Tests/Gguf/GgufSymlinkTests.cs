using Tandem.Engine.Gguf;

namespace Tandem.Engine.Tests.Gguf;

/// <summary>
/// A model reached through a symbolic link reads as the file it points to: the Hugging Face cache, Kubernetes
/// ConfigMap and projected volumes, and model folders that point at one shared copy all present models so.
/// </summary>
public sealed class GgufSymlinkTests
{
    [Fact]
    public void A_model_behind_a_link_opens_with_the_targets_size_and_tensors()
    {
        string model = TestPaths.Model("stories260K.gguf");
        string link = Path.Combine(TestPaths.NewTempDir(), "model.gguf");
        File.CreateSymbolicLink(link, model);
        // A link to a link, as a projected volume's ..data indirection makes.
        string outer = Path.Combine(Path.GetDirectoryName(link)!, "outer.gguf");
        File.CreateSymbolicLink(outer, link);

        using var direct = GgufFile.Open(model);
        foreach (string path in new[] { link, outer })
        {
            using var linked = GgufFile.Open(path);
            Assert.Equal(new FileInfo(model).Length, linked.FileSize);
            Assert.Equal(direct.Tensors.Select(t => t.Name), linked.Tensors.Select(t => t.Name));
            Assert.Equal(direct.MetadataKeys, linked.MetadataKeys);
        }
    }

    [Fact]
    public void A_dangling_link_is_no_such_file()
    {
        string link = Path.Combine(TestPaths.NewTempDir(), "model.gguf");
        File.CreateSymbolicLink(link, Path.Combine(Path.GetDirectoryName(link)!, "gone.gguf"));
        var e = Assert.Throws<FileNotFoundException>(() => GgufFile.Open(link));
        Assert.Contains("no such file", e.Message);
    }
}
