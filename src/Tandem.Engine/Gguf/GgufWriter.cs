using System.Text;

namespace Tandem.Engine.Gguf;

/// <summary>
/// Writes a GGUF v3 file: header, metadata, tensor descriptions, then the tensor data, each tensor at an
/// offset aligned to <see cref="Alignment"/> and followed by zero padding to the next multiple of it (as
/// ggml's gguf writer does). Tensor data is pulled from a callback while the file is written, so a model
/// larger than memory can be produced. The file is written under a temporary name beside the target and
/// renamed into place only when complete: a failed write never leaves a half file under the final name.
/// </summary>
public sealed class GgufWriter
{
    public const uint Version = 3;
    public const string AlignmentKey = "general.alignment";

    private readonly List<string> _keys = [];
    private readonly Dictionary<string, GgufMetadataValue> _metadata = [];
    private readonly List<PendingTensor> _tensors = [];
    private readonly HashSet<string> _tensorNames = [];

    /// <param name="alignment">Tensor data alignment; anything but GGUF's default 32 is recorded as <c>general.alignment</c>.</param>
    public GgufWriter(uint alignment = GgufFile.DefaultAlignment)
    {
        if (alignment != GgufFile.DefaultAlignment) SetMetadata(AlignmentKey, GgufMetadataValue.Of(alignment));
    }

    /// <summary>The tensor data alignment: <c>general.alignment</c> when set, else 32.</summary>
    public uint Alignment =>
        _metadata.TryGetValue(AlignmentKey, out var v) && v.TryGetInteger(out long a) ? (uint)a : GgufFile.DefaultAlignment;

    /// <summary>Metadata keys in the order they will be written.</summary>
    public IReadOnlyList<string> MetadataKeys => _keys;

    public int TensorCount => _tensors.Count;

    /// <summary>Sets a metadata value; a new key goes last, an existing key keeps its place.</summary>
    public void SetMetadata(string key, GgufMetadataValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        Validate(key, value.Type, value.ElementType, value.Value);
        if (key == AlignmentKey)
        {
            if (!value.TryGetInteger(out long a) || a <= 0 || a > uint.MaxValue || (a & (a - 1)) != 0)
                throw new ArgumentException($"{AlignmentKey} must be a positive power of two, got {value}");
        }
        if (_metadata.TryAdd(key, value)) _keys.Add(key);
        else _metadata[key] = value;
    }

    /// <summary>
    /// Adds a tensor whose data <paramref name="writeData"/> streams when the file is written; it must write
    /// exactly the tensor's byte size (<see cref="GgmlTypeInfo.RowBytes"/> times the row count).
    /// </summary>
    /// <param name="shape">ggml order: shape[0] is the row length.</param>
    public void AddTensor(string name, long[] shape, GgmlType type, Action<Stream> writeData)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(writeData);
        if (shape.Length is < 1 or > 4) throw new ArgumentException($"tensor '{name}' has {shape.Length} dimensions (1 to 4 allowed)");
        foreach (long d in shape)
            if (d <= 0) throw new ArgumentException($"tensor '{name}' has invalid dimension {d}");
        long elements = 1;
        foreach (long d in shape) elements = checked(elements * d);
        long bytes = GgmlTypeInfo.RowBytes(type, shape[0]) * (elements / shape[0]);
        if (!_tensorNames.Add(name)) throw new ArgumentException($"duplicate tensor '{name}'");
        _tensors.Add(new PendingTensor(name, (long[])shape.Clone(), type, bytes, writeData));
    }

    /// <summary>Adds a tensor whose bytes are already in memory.</summary>
    public void AddTensor(string name, long[] shape, GgmlType type, ReadOnlyMemory<byte> data) =>
        AddTensor(name, shape, type, s => s.Write(data.Span));

    /// <summary>Writes the file to <paramref name="path"/> (replacing any file there); returns its size in bytes.</summary>
    public long Write(string path, IProgress<GgufWriteProgress>? progress = null)
    {
        string full = System.IO.Path.GetFullPath(path);
        string dir = System.IO.Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string temp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            long size;
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                WriteTo(fs, progress);
                fs.Flush(flushToDisk: false);
                size = fs.Length;
            }
            File.Move(temp, full, overwrite: true);
            return size;
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Writes the whole file to a stream (which need not be seekable).</summary>
    public void WriteTo(Stream output, IProgress<GgufWriteProgress>? progress = null)
    {
        uint alignment = Alignment;
        var w = new BinaryWriter(output, Encoding.UTF8, leaveOpen: true); // BinaryWriter is little-endian on every platform, as GGUF is
        w.Write(GgufFile.Magic);
        w.Write(Version);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_keys.Count);
        long position = 4 + 4 + 8 + 8;

        foreach (string key in _keys)
        {
            var v = _metadata[key];
            position += WriteString(w, key);
            w.Write((uint)v.Type);
            position += 4 + WriteValue(w, v.Type, v.ElementType, v.Value);
        }

        ulong offset = 0;
        long totalBytes = 0;
        foreach (var t in _tensors)
        {
            position += WriteString(w, t.Name);
            w.Write((uint)t.Shape.Length);
            foreach (long d in t.Shape) w.Write((ulong)d);
            w.Write((uint)t.Type);
            w.Write(offset);
            position += 4 + 8L * t.Shape.Length + 4 + 8;
            offset += (ulong)Align(t.ByteSize, alignment);
            totalBytes += t.ByteSize;
        }
        WriteZeros(w, Align(position, alignment) - position);
        w.Flush();

        long written = 0;
        for (int i = 0; i < _tensors.Count; i++)
        {
            var t = _tensors[i];
            var counting = new CountingStream(output, written, totalBytes, i, _tensors.Count, t.Name, progress);
            t.WriteData(counting);
            if (counting.Count != t.ByteSize)
                throw new InvalidOperationException(
                    $"tensor '{t.Name}' ({GgmlTypeInfo.Name(t.Type)} [{string.Join(", ", t.Shape)}]) must be {t.ByteSize} bytes but its data source wrote {counting.Count}");
            written += t.ByteSize;
            WriteZeros(w, Align(t.ByteSize, alignment) - t.ByteSize);
            w.Flush();
            progress?.Report(new GgufWriteProgress(i, _tensors.Count, t.Name, written, totalBytes));
        }
        output.Flush();
    }

    private static long Align(long n, uint alignment) => (n + alignment - 1) / alignment * alignment;

    private static void WriteZeros(BinaryWriter w, long n)
    {
        Span<byte> zeros = stackalloc byte[256];
        zeros.Clear();
        while (n > 0)
        {
            int k = (int)Math.Min(n, zeros.Length);
            w.Write(zeros[..k]);
            n -= k;
        }
    }

    private static long WriteString(BinaryWriter w, string s)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
        return 8 + bytes.Length;
    }

    /// <summary>Writes a value's payload (not its type tag); returns the bytes written.</summary>
    private static long WriteValue(BinaryWriter w, GgufValueType type, GgufValueType elementType, object value)
    {
        switch (type)
        {
            case GgufValueType.UInt8: w.Write((byte)value); return 1;
            case GgufValueType.Int8: w.Write((sbyte)value); return 1;
            case GgufValueType.UInt16: w.Write((ushort)value); return 2;
            case GgufValueType.Int16: w.Write((short)value); return 2;
            case GgufValueType.UInt32: w.Write((uint)value); return 4;
            case GgufValueType.Int32: w.Write((int)value); return 4;
            case GgufValueType.Float32: w.Write((float)value); return 4;
            case GgufValueType.Bool: w.Write((byte)((bool)value ? 1 : 0)); return 1;
            case GgufValueType.String: return WriteString(w, (string)value);
            case GgufValueType.UInt64: w.Write((ulong)value); return 8;
            case GgufValueType.Int64: w.Write((long)value); return 8;
            case GgufValueType.Float64: w.Write((double)value); return 8;
            case GgufValueType.Array:
                var array = (Array)value;
                w.Write((uint)elementType);
                w.Write((ulong)array.Length);
                long n = 4 + 8;
                if (elementType == GgufValueType.Array)
                {
                    // Items of a nested array carry no type tag of their own: each is element type, count, items.
                    foreach (GgufMetadataValue inner in (object[])value)
                        n += WriteValue(w, GgufValueType.Array, inner.ElementType, inner.Value);
                    return n;
                }
                foreach (object item in array) n += WriteValue(w, elementType, default, item);
                return n;
            default:
                throw new ArgumentException($"unknown GGUF value type {(uint)type}");
        }
    }

    private static void Validate(string key, GgufValueType type, GgufValueType elementType, object value)
    {
        bool ok = type switch
        {
            GgufValueType.UInt8 => value is byte,
            GgufValueType.Int8 => value is sbyte,
            GgufValueType.UInt16 => value is ushort,
            GgufValueType.Int16 => value is short,
            GgufValueType.UInt32 => value is uint,
            GgufValueType.Int32 => value is int,
            GgufValueType.Float32 => value is float,
            GgufValueType.Bool => value is bool,
            GgufValueType.String => value is string,
            GgufValueType.UInt64 => value is ulong,
            GgufValueType.Int64 => value is long,
            GgufValueType.Float64 => value is double,
            GgufValueType.Array => elementType switch
            {
                GgufValueType.UInt8 => value is byte[],
                GgufValueType.Int8 => value is sbyte[],
                GgufValueType.UInt16 => value is ushort[],
                GgufValueType.Int16 => value is short[],
                GgufValueType.UInt32 => value is uint[],
                GgufValueType.Int32 => value is int[],
                GgufValueType.Float32 => value is float[],
                GgufValueType.Bool => value is bool[],
                GgufValueType.String => value is string[] strings && Array.TrueForAll(strings, s => s != null),
                GgufValueType.UInt64 => value is ulong[],
                GgufValueType.Int64 => value is long[],
                GgufValueType.Float64 => value is double[],
                GgufValueType.Array => value is object[] items && Array.TrueForAll(items, IsValidNested),
                _ => false,
            },
            _ => false,
        };
        if (!ok)
            throw new ArgumentException(
                $"metadata '{key}': a {type}{(type == GgufValueType.Array ? " of " + elementType : "")} value cannot hold a {value.GetType().Name}");

        static bool IsValidNested(object item)
        {
            if (item is not GgufMetadataValue { Type: GgufValueType.Array } inner) return false;
            try { Validate("", inner.Type, inner.ElementType, inner.Value); return true; }
            catch (ArgumentException) { return false; }
        }
    }

    private sealed record PendingTensor(string Name, long[] Shape, GgmlType Type, long ByteSize, Action<Stream> WriteData);

    /// <summary>A write-only view of the output that counts what a data source writes and reports progress.</summary>
    private sealed class CountingStream(
        Stream inner, long writtenBefore, long totalBytes, int index, int count, string name, IProgress<GgufWriteProgress>? progress) : Stream
    {
        private const long ReportEvery = 16 << 20;
        private long _nextReport = ReportEvery;

        public long Count { get; private set; }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            Count += buffer.Length;
            if (progress != null && Count >= _nextReport)
            {
                _nextReport = (Count / ReportEvery + 1) * ReportEvery;
                progress.Report(new GgufWriteProgress(index, count, name, writtenBefore + Count, totalBytes));
            }
        }

        public override void WriteByte(byte value) => Write([value]);
    }
}
