using Tandem.Engine.Gguf;

namespace Tandem.Engine.Tests.Gguf;

public sealed class GgufWriterTests
{
    private static readonly Dictionary<string, GgufMetadataValue> AllValueTypes = new()
    {
        ["t.u8"] = new(GgufValueType.UInt8, (byte)200),
        ["t.i8"] = new(GgufValueType.Int8, (sbyte)-100),
        ["t.u16"] = new(GgufValueType.UInt16, (ushort)60000),
        ["t.i16"] = new(GgufValueType.Int16, (short)-30000),
        ["t.u32"] = GgufMetadataValue.Of(4_000_000_000u),
        ["t.i32"] = GgufMetadataValue.Of(-2_000_000_000),
        ["t.f32"] = GgufMetadataValue.Of(1e-6f),
        ["t.bool.true"] = GgufMetadataValue.Of(true),
        ["t.bool.false"] = GgufMetadataValue.Of(false),
        ["t.str"] = GgufMetadataValue.Of("héllo ▁world\n\0end"),
        ["t.str.empty"] = GgufMetadataValue.Of(""),
        ["t.u64"] = GgufMetadataValue.Of(ulong.MaxValue),
        ["t.i64"] = new(GgufValueType.Int64, long.MinValue),
        ["t.f64"] = new(GgufValueType.Float64, Math.PI),
        ["a.u8"] = new(GgufValueType.Array, new byte[] { 0, 1, 255 }, GgufValueType.UInt8),
        ["a.i8"] = new(GgufValueType.Array, new sbyte[] { -128, 0, 127 }, GgufValueType.Int8),
        ["a.u16"] = new(GgufValueType.Array, new ushort[] { 0, 65535 }, GgufValueType.UInt16),
        ["a.i16"] = new(GgufValueType.Array, new short[] { -32768, 32767 }, GgufValueType.Int16),
        ["a.u32"] = new(GgufValueType.Array, new uint[] { 1, uint.MaxValue }, GgufValueType.UInt32),
        ["a.i32"] = GgufMetadataValue.OfArray([-1, 0, 1, int.MaxValue]),
        ["a.f32"] = GgufMetadataValue.OfArray([0f, -0.5f, float.MaxValue, float.Epsilon]),
        ["a.bool"] = new(GgufValueType.Array, new[] { true, false, true }, GgufValueType.Bool),
        ["a.str"] = GgufMetadataValue.OfArray(["<s>", "", "▁the", "\u00e9\u4e2d"]),
        ["a.str.empty"] = GgufMetadataValue.OfArray(Array.Empty<string>()),
        ["a.u64"] = new(GgufValueType.Array, new ulong[] { ulong.MaxValue }, GgufValueType.UInt64),
        ["a.i64"] = new(GgufValueType.Array, new long[] { long.MinValue, 5 }, GgufValueType.Int64),
        ["a.f64"] = new(GgufValueType.Array, new double[] { 1.5, -2.25e300 }, GgufValueType.Float64),
        ["a.nested"] = new(GgufValueType.Array, new object[]
        {
            GgufMetadataValue.OfArray([1, 2, 3]),
            GgufMetadataValue.OfArray(["x", "yz"]),
        }, GgufValueType.Array),
    };

    [Theory]
    [InlineData(32u)]
    [InlineData(64u)]
    public void Round_trip_keeps_every_value_type_and_tensor_bytes(uint alignment)
    {
        string dir = TestPaths.NewTempDir();
        string path = Path.Combine(dir, "all.gguf");
        var writer = new GgufWriter(alignment);
        foreach (var (k, v) in AllValueTypes) writer.SetMetadata(k, v);

        var rng = new Random(1234);
        // Sizes that are not multiples of the alignment, so padding between tensors is exercised.
        var tensors = new (string Name, long[] Shape, GgmlType Type)[]
        {
            ("odd.f32", [3, 5], GgmlType.F32),
            ("q8.rows", [64, 3], GgmlType.Q8_0),
            ("vec.f16", [7], GgmlType.F16),
            ("k.blocks", [256, 2], GgmlType.Q4_K),
            ("cube", [2, 3, 4], GgmlType.F32),
        };
        var data = new Dictionary<string, byte[]>();
        foreach (var (name, shape, type) in tensors)
        {
            long elements = shape.Aggregate(1L, (a, d) => a * d);
            var bytes = new byte[GgmlTypeInfo.RowBytes(type, shape[0]) * (elements / shape[0])];
            rng.NextBytes(bytes);
            data[name] = bytes;
            // Stream in small pieces, as a generator of a large model would.
            writer.AddTensor(name, shape, type, s =>
            {
                for (int i = 0; i < bytes.Length; i += 5) s.Write(bytes, i, Math.Min(5, bytes.Length - i));
            });
        }

        long size = writer.Write(path);

        using var f = GgufFile.Open(path);
        Assert.Equal(size, new FileInfo(path).Length);
        Assert.Equal(3u, f.Version);
        Assert.Equal(alignment, f.Alignment);
        Assert.Equal(0, f.DataOffset % alignment);
        var expectedKeys = AllValueTypes.Keys.ToList();
        if (alignment != 32) expectedKeys.Insert(0, "general.alignment");
        Assert.Equal(expectedKeys, f.MetadataKeys);
        foreach (var (k, v) in AllValueTypes) AssertSameValue(v, f.Metadata[k]);

        Assert.Equal(tensors.Select(t => t.Name), f.Tensors.Select(t => t.Name));
        foreach (var (name, shape, type) in tensors)
        {
            var t = f.GetTensor(name);
            Assert.Equal(shape, t.Shape);
            Assert.Equal(type, t.Type);
            Assert.Equal(0ul, t.Offset % alignment);
            Assert.Equal(data[name], t.Bytes.ToArray());
        }
        // The last tensor's data is padded too, as ggml's writer does.
        Assert.Equal(0, f.FileSize % alignment);
    }

    private static void AssertSameValue(GgufMetadataValue expected, GgufMetadataValue actual)
    {
        Assert.Equal(expected.Type, actual.Type);
        if (expected.Type != GgufValueType.Array)
        {
            Assert.Equal(expected.Value, actual.Value);
            return;
        }
        Assert.Equal(expected.ElementType, actual.ElementType);
        Assert.Equal(expected.Value.GetType(), actual.Value.GetType());
        if (expected.ElementType == GgufValueType.Array)
        {
            var e = (object[])expected.Value;
            var a = (object[])actual.Value;
            Assert.Equal(e.Length, a.Length);
            for (int i = 0; i < e.Length; i++) AssertSameValue((GgufMetadataValue)e[i], (GgufMetadataValue)a[i]);
            return;
        }
        Assert.Equal(((Array)expected.Value).Cast<object>(), ((Array)actual.Value).Cast<object>());
    }

    [Fact]
    public void A_failing_data_source_leaves_no_file_behind()
    {
        string dir = TestPaths.NewTempDir();
        string path = Path.Combine(dir, "broken.gguf");
        var writer = new GgufWriter();
        writer.SetMetadata("general.architecture", GgufMetadataValue.Of("llama"));
        writer.AddTensor("ok", [32], GgmlType.F32, new byte[128]);
        writer.AddTensor("fails", [32], GgmlType.F32, s =>
        {
            s.Write(new byte[64]);
            throw new IOException("disk on fire");
        });

        var e = Assert.Throws<IOException>(() => writer.Write(path));
        Assert.Equal("disk on fire", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public void A_data_source_writing_the_wrong_size_fails_and_keeps_the_old_file()
    {
        string dir = TestPaths.NewTempDir();
        string path = Path.Combine(dir, "model.gguf");
        File.WriteAllText(path, "previous contents");
        var writer = new GgufWriter();
        writer.AddTensor("short", [4, 4], GgmlType.F32, new byte[60]);

        var e = Assert.Throws<InvalidOperationException>(() => writer.Write(path));
        Assert.Contains("'short'", e.Message);
        Assert.Contains("64 bytes", e.Message);
        Assert.Equal("previous contents", File.ReadAllText(path));
        Assert.Single(Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public void Writing_over_an_existing_file_replaces_it()
    {
        string dir = TestPaths.NewTempDir();
        string path = Path.Combine(dir, "model.gguf");
        File.WriteAllText(path, "old");
        var writer = new GgufWriter();
        writer.SetMetadata("general.name", GgufMetadataValue.Of("new"));
        writer.Write(path);

        using var f = GgufFile.Open(path);
        Assert.Equal("new", f.GetString("general.name"));
        Assert.Empty(f.Tensors);
    }

    [Fact]
    public void Rejects_values_that_do_not_match_their_declared_type_and_bad_tensors()
    {
        var writer = new GgufWriter();
        Assert.Throws<ArgumentException>(() => writer.SetMetadata("x", new GgufMetadataValue(GgufValueType.UInt32, 5)));
        Assert.Throws<ArgumentException>(() => writer.SetMetadata("x", new GgufMetadataValue(GgufValueType.Array, new[] { 1 }, GgufValueType.Float32)));
        Assert.Throws<ArgumentException>(() => writer.SetMetadata("general.alignment", GgufMetadataValue.Of(48u)));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("q", [33], GgmlType.Q8_0, new byte[34]));
        writer.AddTensor("t", [1], GgmlType.F32, new byte[4]);
        Assert.Throws<ArgumentException>(() => writer.AddTensor("t", [1], GgmlType.F32, new byte[4]));
    }

    [Fact]
    public void Setting_a_key_again_keeps_its_place()
    {
        var writer = new GgufWriter();
        writer.SetMetadata("a", GgufMetadataValue.Of(1));
        writer.SetMetadata("b", GgufMetadataValue.Of(2));
        writer.SetMetadata("a", GgufMetadataValue.Of(3));
        string path = Path.Combine(TestPaths.NewTempDir(), "k.gguf");
        writer.Write(path);
        using var f = GgufFile.Open(path);
        Assert.Equal(["a", "b"], f.MetadataKeys);
        Assert.Equal(3L, f.GetInteger("a"));
    }
}
