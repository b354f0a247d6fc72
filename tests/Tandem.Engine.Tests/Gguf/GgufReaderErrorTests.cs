using System.Buffers.Binary;
using System.Text;
using Tandem.Engine.Gguf;

namespace Tandem.Engine.Tests.Gguf;

/// <summary>The reader on hand-made broken files: each failure is a GgufFormatException naming the file (and the tensor at fault).</summary>
public sealed class GgufReaderErrorTests
{
    /// <summary>A small valid file: some metadata, a 1-D and a 2-D F32 tensor.</summary>
    private static byte[] ValidFile()
    {
        var writer = new GgufWriter();
        writer.SetMetadata("general.architecture", GgufMetadataValue.Of("llama"));
        writer.SetMetadata("tokenizer.ggml.tokens", GgufMetadataValue.OfArray(["a", "b", "c"]));
        writer.AddTensor("norm.weight", [256], GgmlType.F32, new byte[1024]);
        writer.AddTensor("matrix.weight", [256, 2], GgmlType.F32, Enumerable.Range(0, 2048).Select(i => (byte)i).ToArray());
        var ms = new MemoryStream();
        writer.WriteTo(ms);
        return ms.ToArray();
    }

    private static string Save(byte[] bytes, string name = "broken.gguf")
    {
        string path = Path.Combine(TestPaths.NewTempDir(), name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static GgufFormatException OpenFails(string path)
    {
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        return e;
    }

    /// <summary>Offset of a tensor's type field in its description (after name, dimension count and dimensions).</summary>
    private static int TypeFieldOffset(byte[] file, string tensor)
    {
        byte[] name = Encoding.UTF8.GetBytes(tensor);
        byte[] needle = new byte[8 + name.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(needle, (ulong)name.Length);
        name.CopyTo(needle, 8);
        int at = file.AsSpan().IndexOf(needle);
        Assert.True(at >= 0, $"tensor '{tensor}' not found in the file");
        int p = at + needle.Length;
        uint dims = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(p));
        return p + 4 + 8 * (int)dims;
    }

    [Fact]
    public void The_valid_file_opens()
    {
        using var f = GgufFile.Open(Save(ValidFile()));
        Assert.Equal(2, f.Tensors.Count);
        Assert.Equal(Enumerable.Range(0, 2048).Select(i => (byte)i), f.GetTensor("matrix.weight").Bytes.ToArray());
    }

    [Fact]
    public void Wrong_magic()
    {
        var bytes = ValidFile();
        "GGML"u8.CopyTo(bytes);
        var e = OpenFails(Save(bytes));
        Assert.Contains("not a GGUF file", e.Message);
    }

    [Fact]
    public void Text_file()
    {
        var e = OpenFails(Save("# not a model, just some text\n"u8.ToArray(), "notes.txt"));
        Assert.Contains("not a GGUF file", e.Message);
    }

    [Theory]
    [InlineData(1u)]
    [InlineData(4u)]
    public void Unsupported_version(uint version)
    {
        var bytes = ValidFile();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), version);
        var e = OpenFails(Save(bytes));
        Assert.Contains($"unsupported GGUF version {version}", e.Message);
    }

    [Theory]
    [InlineData(6)]   // inside the version
    [InlineData(20)]  // inside the counts
    [InlineData(40)]  // inside the first metadata key or value
    [InlineData(120)] // inside the token array or the tensor descriptions
    public void Truncated_header(int length)
    {
        var bytes = ValidFile()[..length];
        var e = OpenFails(Save(bytes));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Truncated_tensor_data_names_the_tensor()
    {
        var bytes = ValidFile();
        var e = OpenFails(Save(bytes[..(bytes.Length - 100)]));
        Assert.Contains("truncated", e.Message);
        Assert.Contains("'matrix.weight'", e.Message);
    }

    [Fact]
    public void Unsupported_tensor_type_is_reported_when_the_tensor_is_asked_for()
    {
        var bytes = ValidFile();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(TypeFieldOffset(bytes, "matrix.weight")), (uint)GgmlType.IQ2_XXS);
        string path = Save(bytes);

        using var f = GgufFile.Open(path);
        Assert.Equal(GgmlType.IQ2_XXS, f.Tensors[1].Type);
        f.GetTensor("norm.weight"); // the other tensors stay usable
        var e = Assert.Throws<GgufFormatException>(() => f.GetTensor("matrix.weight"));
        Assert.Contains(path, e.Message);
        Assert.Contains("'matrix.weight'", e.Message);
        Assert.Contains("IQ2_XXS", e.Message);
    }

    [Fact]
    public void Missing_tensor_names_file_and_tensor()
    {
        string path = Save(ValidFile());
        using var f = GgufFile.Open(path);
        var e = Assert.Throws<GgufFormatException>(() => f.GetTensor("output.weight"));
        Assert.Contains(path, e.Message);
        Assert.Contains("'output.weight'", e.Message);
    }

    [Fact]
    public void Misaligned_tensor_offset_names_the_tensor()
    {
        var bytes = ValidFile();
        int offsetField = TypeFieldOffset(bytes, "matrix.weight") + 4;
        ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(offsetField));
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(offsetField), offset + 4);
        var e = OpenFails(Save(bytes));
        Assert.Contains("'matrix.weight'", e.Message);
        Assert.Contains("not aligned", e.Message);
    }

    [Fact]
    public void Missing_file_is_FileNotFoundException_naming_it()
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "absent.gguf");
        var e = Assert.Throws<FileNotFoundException>(() => GgufFile.Open(path));
        Assert.Contains(path, e.Message);
    }
}
