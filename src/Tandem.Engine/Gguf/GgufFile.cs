using System.IO.MemoryMappedFiles;
using System.Text;

namespace Tandem.Engine.Gguf;

/// <summary>
/// A GGUF file (versions 2 and 3), memory mapped: metadata and tensor descriptions are parsed at open; tensor data
/// stays in the mapping (<see cref="WeightPlacement.Mapped"/>) or is copied into huge-page memory and the file closed
/// (<see cref="WeightPlacement.HugePages"/>). Dispose to release either; tensor pointers die with it.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian uint32
    public const uint DefaultAlignment = 32;

    private MemoryMappedFile? _map;
    private MemoryMappedViewAccessor? _view;
    private byte* _base;
    private HugePageMemory? _hugePages;
    private readonly Dictionary<string, GgufTensorInfo> _tensorsByName;

    public string Path { get; }
    public uint Version { get; }
    public long FileSize { get; }
    public uint Alignment { get; }
    /// <summary>Offset in the file where tensor data starts.</summary>
    public long DataOffset { get; }
    /// <summary>Metadata in file order.</summary>
    public IReadOnlyDictionary<string, GgufMetadataValue> Metadata { get; }
    public IReadOnlyList<string> MetadataKeys { get; }
    /// <summary>Tensors in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }
    /// <summary>Where the tensor data is: <see cref="WeightPlacement.Mapped"/> or <see cref="WeightPlacement.HugePages"/> (never Auto).</summary>
    public WeightPlacement Placement { get; }
    /// <summary>With <see cref="WeightPlacement.HugePages"/>: whether the kernel took the advice to back the copy with huge pages.</summary>
    public bool HugePagesAdvised => _hugePages?.Advised ?? false;

    private GgufFile(string path, WeightPlacement placement)
    {
        Path = path;
        var fi = new FileInfo(path);
        // A symbolic link's own length is that of the name it holds: the size is the target's. Models are often links
        // (the Hugging Face cache, Kubernetes ConfigMap and projected volumes, a model folder pointing at a shared copy).
        if (fi.LinkTarget is not null && fi.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target) fi = target;
        if (!fi.Exists) throw new FileNotFoundException($"{path}: no such file", path);
        FileSize = fi.Length;
        if (FileSize < 8) throw new GgufFormatException($"{path}: truncated file ({FileSize} bytes), not a GGUF file");

        _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + _view.PointerOffset;

        try
        {
            var r = new Reader(_base, FileSize, path);
            uint magic = r.U32();
            if (magic != Magic)
            {
                string shown = Encoding.ASCII.GetString(new ReadOnlySpan<byte>(_base, 4)).Replace('\0', '.');
                throw new GgufFormatException($"{path}: not a GGUF file (magic is '{shown}', expected 'GGUF')");
            }
            Version = r.U32();
            if (Version is not (2 or 3))
            {
                string why = Version == 1 ? "version 1 files predate GGUF v2; re-convert the model"
                    : (Version & 0xFFFF) == 0 ? "this looks like a big-endian file, which is not supported"
                    : "supported versions are 2 and 3";
                throw new GgufFormatException($"{path}: unsupported GGUF version {Version} ({why})");
            }
            ulong tensorCount = r.U64();
            ulong kvCount = r.U64();
            if (tensorCount > (ulong)FileSize || kvCount > (ulong)FileSize)
                throw new GgufFormatException($"{path}: corrupt header (tensor count {tensorCount}, metadata count {kvCount})");

            var metadata = new Dictionary<string, GgufMetadataValue>((int)kvCount);
            var keys = new List<string>((int)kvCount);
            for (ulong i = 0; i < kvCount; i++)
            {
                string key = r.Str();
                var type = (GgufValueType)r.U32();
                var value = r.Value(type, key);
                metadata[key] = value;
                keys.Add(key);
            }
            Metadata = metadata;
            MetadataKeys = keys;

            Alignment = DefaultAlignment;
            if (metadata.TryGetValue("general.alignment", out var al))
            {
                if (!al.TryGetInteger(out long a) || a <= 0 || (a & (a - 1)) != 0)
                    throw new GgufFormatException($"{path}: general.alignment must be a power of two, got {al}");
                Alignment = (uint)a;
            }

            var tensors = new List<GgufTensorInfo>((int)tensorCount);
            _tensorsByName = new Dictionary<string, GgufTensorInfo>((int)tensorCount);
            for (ulong i = 0; i < tensorCount; i++)
            {
                string name = r.Str();
                uint nDims = r.U32();
                if (nDims > 4) throw new GgufFormatException($"{path}: tensor '{name}' has {nDims} dimensions (at most 4)");
                var shape = new long[nDims];
                for (int d = 0; d < nDims; d++)
                {
                    ulong dim = r.U64();
                    if (dim == 0 || dim > long.MaxValue / 4) throw new GgufFormatException($"{path}: tensor '{name}' has invalid dimension {dim}");
                    shape[d] = (long)dim;
                }
                var ttype = (GgmlType)r.U32();
                ulong offset = r.U64();
                long bytes = -1;
                if (GgmlTypeInfo.IsSupported(ttype))
                {
                    long elements = 1;
                    foreach (long d in shape) elements = checked(elements * d);
                    if (shape.Length > 0 && shape[0] % GgmlTypeInfo.BlockSize(ttype) != 0)
                        throw new GgufFormatException($"{path}: tensor '{name}' row length {shape[0]} is not a multiple of the {GgmlTypeInfo.Name(ttype)} block size");
                    bytes = elements / GgmlTypeInfo.BlockSize(ttype) * GgmlTypeInfo.BlockBytes(ttype);
                }
                if (offset % Alignment != 0)
                    throw new GgufFormatException($"{path}: tensor '{name}' data offset {offset} is not aligned to {Alignment}");
                var t = new GgufTensorInfo(name, shape, ttype, offset, bytes);
                if (!_tensorsByName.TryAdd(name, t))
                    throw new GgufFormatException($"{path}: duplicate tensor '{name}'");
                tensors.Add(t);
            }
            Tensors = tensors;

            DataOffset = (r.Position + Alignment - 1) / Alignment * Alignment;
            foreach (var t in tensors)
            {
                if (t.ByteSize < 0) continue; // unsupported type: reported when a model asks for it
                long end = DataOffset + (long)t.Offset + t.ByteSize;
                if ((long)t.Offset < 0 || end > FileSize)
                    throw new GgufFormatException(
                        $"{path}: truncated file: tensor '{t.Name}' needs bytes up to {end} but the file has {FileSize}");
            }
            Placement = ResolvePlacement(placement, HugePageMemory.Available, FileSize > DataOffset);
            byte* data = _base + DataOffset;
            if (Placement == WeightPlacement.HugePages)
            {
                if (!TryCopyToHugePages(placement == WeightPlacement.Auto)) Placement = WeightPlacement.Mapped;
                else data = _hugePages!.Pointer;
            }
            foreach (var t in tensors)
                if (t.ByteSize >= 0) t.Data = data + (long)t.Offset;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Opens and parses <paramref name="path"/>, tensor data left in the mapping; throws <see cref="GgufFormatException"/> on a malformed file.</summary>
    public static GgufFile Open(string path) => new(path, WeightPlacement.Mapped);

    /// <summary>Opens and parses <paramref name="path"/>, its tensor data placed as <paramref name="placement"/> says.</summary>
    public static GgufFile Open(string path, WeightPlacement placement) => new(path, placement);

    /// <summary>
    /// Where the data goes when <paramref name="asked"/> is asked for: Auto takes huge pages where the kernel offers them;
    /// an explicit ask for them where it does not is an error that says why, not a silent fall-back; a file without
    /// tensor data stays mapped.
    /// </summary>
    internal static WeightPlacement ResolvePlacement(WeightPlacement asked, bool hugePagesAvailable, bool hasData) => asked switch
    {
        WeightPlacement.Auto => hugePagesAvailable && hasData ? WeightPlacement.HugePages : WeightPlacement.Mapped,
        WeightPlacement.HugePages when !hugePagesAvailable => throw new InvalidOperationException(
            $"huge pages were asked for the weights, but transparent huge pages are off here ({HugePageMemory.SettingPath}" +
            (OperatingSystem.IsLinux() ? " reads [never]" : " exists on Linux only") + "): load them mapped instead"),
        WeightPlacement.HugePages when !hasData => WeightPlacement.Mapped,
        _ => asked,
    };

    /// <summary>
    /// Copies the tensor data into <see cref="HugePageMemory"/> with plain reads (the mapping's pages are never touched, so
    /// the process holds one copy, not two) and closes the mapping. Where the memory cannot be had and the placement was
    /// Auto, returns false and the data stays mapped.
    /// </summary>
    private bool TryCopyToHugePages(bool fallBack)
    {
        long bytes = FileSize - DataOffset;
        try { _hugePages = new HugePageMemory(bytes); }
        catch (OutOfMemoryException) when (fallBack) { return false; }
        // Read in chunks by every core at once: each chunk's huge pages are zeroed by the kernel on first touch and then
        // filled by the read, work that one thread did at about 2 GB/s (TinyLlama F16: 1.0 s, warm page cache).
        const int Chunk = 32 << 20;
        byte* target = _hugePages.Pointer;
        long offset = DataOffset;
        string path = Path;
        using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan))
        try
        {
            Parallel.For(0, (bytes + Chunk - 1) / Chunk, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, c =>
            {
                long begin = c * Chunk, end = Math.Min(bytes, begin + Chunk);
                for (long done = begin; done < end;)
                {
                    int n = RandomAccess.Read(handle, new Span<byte>(target + done, (int)(end - done)), offset + done);
                    if (n == 0)
                        throw new GgufFormatException($"{path}: the file ended at {offset + done} bytes while its tensor data was read (it shrank after it was opened?)");
                    done += n;
                }
            });
        }
        catch (AggregateException e) when (e.InnerException is GgufFormatException format)
        {
            // A chunk's own error, not the parallel loop's wrapper: callers report GgufFormatException as a bad file.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(format);
        }
        ReleaseMapping();
        return true;
    }

    private void ReleaseMapping()
    {
        if (_base != null)
        {
            _view?.SafeMemoryMappedViewHandle.ReleasePointer();
            _base = null;
        }
        _view?.Dispose();
        _map?.Dispose();
        _view = null;
        _map = null;
    }

    public bool TryGetTensor(string name, out GgufTensorInfo tensor) => _tensorsByName.TryGetValue(name, out tensor!);

    /// <summary>The named tensor, checked to be of a supported type; throws naming file and tensor otherwise.</summary>
    public GgufTensorInfo GetTensor(string name)
    {
        if (!_tensorsByName.TryGetValue(name, out var t))
            throw new GgufFormatException($"{Path}: missing tensor '{name}'");
        if (!GgmlTypeInfo.IsSupported(t.Type))
            throw new GgufFormatException($"{Path}: tensor '{name}' has unsupported type {GgmlTypeInfo.Name(t.Type)}");
        return t;
    }

    public bool Has(string key) => Metadata.ContainsKey(key);

    public string? GetString(string key) =>
        Metadata.TryGetValue(key, out var v) ? v.Value as string ?? throw TypeError(key, v, "a string") : null;

    public long? GetInteger(string key) =>
        Metadata.TryGetValue(key, out var v) ? v.TryGetInteger(out long l) ? l : throw TypeError(key, v, "an integer") : null;

    public double? GetNumber(string key) =>
        Metadata.TryGetValue(key, out var v) ? v.TryGetNumber(out double d) ? d : throw TypeError(key, v, "a number") : null;

    public bool? GetBool(string key) =>
        Metadata.TryGetValue(key, out var v) ? v.Value as bool? ?? throw TypeError(key, v, "a bool") : null;

    /// <summary>An array value as <typeparamref name="T"/>[] (exact element type), or null when absent.</summary>
    public T[]? GetArray<T>(string key) =>
        Metadata.TryGetValue(key, out var v) ? v.Value as T[] ?? throw TypeError(key, v, $"an array of {typeof(T).Name}") : null;

    /// <summary>An integer array of any integer element type, widened to int.</summary>
    public int[]? GetIntArray(string key)
    {
        if (!Metadata.TryGetValue(key, out var v)) return null;
        return v.Value switch
        {
            int[] a => a,
            uint[] a => Array.ConvertAll(a, x => (int)x),
            long[] a => Array.ConvertAll(a, x => (int)x),
            ulong[] a => Array.ConvertAll(a, x => (int)x),
            short[] a => Array.ConvertAll(a, x => (int)x),
            ushort[] a => Array.ConvertAll(a, x => (int)x),
            sbyte[] a => Array.ConvertAll(a, x => (int)x),
            byte[] a => Array.ConvertAll(a, x => (int)x),
            _ => throw TypeError(key, v, "an integer array"),
        };
    }

    private GgufFormatException TypeError(string key, GgufMetadataValue v, string expected) =>
        new($"{Path}: metadata '{key}' is {v.Type}{(v.Type == GgufValueType.Array ? " of " + v.ElementType : "")}, expected {expected}");

    public void Dispose()
    {
        ReleaseMapping();
        _hugePages?.Dispose();
        _hugePages = null;
    }

    /// <summary>Bounds-checked little-endian reader over the mapping; running off the end is a truncated file.</summary>
    private ref struct Reader(byte* p, long length, string path)
    {
        private long _pos;
        public readonly long Position => _pos;

        private byte* Take(long n)
        {
            if (n < 0 || _pos + n > length)
                throw new GgufFormatException($"{path}: truncated file (needed {n} bytes at offset {_pos}, file has {length})");
            byte* at = p + _pos;
            _pos += n;
            return at;
        }

        public uint U32() => *(uint*)Take(4);
        public ulong U64() => *(ulong*)Take(8);

        public string Str()
        {
            ulong len = U64();
            if (len > (ulong)(length - _pos))
                throw new GgufFormatException($"{path}: truncated file (string of {len} bytes at offset {_pos})");
            return Encoding.UTF8.GetString(Take((long)len), (int)len);
        }

        public GgufMetadataValue Value(GgufValueType type, string key)
        {
            if (type != GgufValueType.Array) return new GgufMetadataValue(type, Scalar(type, key));
            var et = (GgufValueType)U32();
            ulong count = U64();
            if (count > (ulong)(length - _pos))
                throw new GgufFormatException($"{path}: truncated file (array '{key}' claims {count} elements)");
            int n = (int)count;
            object arr = et switch
            {
                GgufValueType.UInt8 => Copy<byte>(n),
                GgufValueType.Int8 => Copy<sbyte>(n),
                GgufValueType.UInt16 => Copy<ushort>(n),
                GgufValueType.Int16 => Copy<short>(n),
                GgufValueType.UInt32 => Copy<uint>(n),
                GgufValueType.Int32 => Copy<int>(n),
                GgufValueType.Float32 => Copy<float>(n),
                GgufValueType.UInt64 => Copy<ulong>(n),
                GgufValueType.Int64 => Copy<long>(n),
                GgufValueType.Float64 => Copy<double>(n),
                GgufValueType.Bool => Array.ConvertAll(Copy<byte>(n), b => b != 0),
                GgufValueType.String => Strings(n),
                GgufValueType.Array => Nested(n, key),
                _ => throw new GgufFormatException($"{path}: metadata '{key}' has unknown array element type {(uint)et}"),
            };
            return new GgufMetadataValue(GgufValueType.Array, arr, et);
        }

        private T[] Copy<T>(int n) where T : unmanaged
        {
            var bytes = Take((long)n * sizeof(T));
            return new ReadOnlySpan<T>(bytes, n).ToArray();
        }

        private string[] Strings(int n)
        {
            var a = new string[n];
            for (int i = 0; i < n; i++) a[i] = Str();
            return a;
        }

        private object[] Nested(int n, string key)
        {
            var a = new object[n];
            for (int i = 0; i < n; i++) a[i] = Value(GgufValueType.Array, key);
            return a;
        }

        private object Scalar(GgufValueType type, string key) => type switch
        {
            GgufValueType.UInt8 => *Take(1),
            GgufValueType.Int8 => *(sbyte*)Take(1),
            GgufValueType.UInt16 => *(ushort*)Take(2),
            GgufValueType.Int16 => *(short*)Take(2),
            GgufValueType.UInt32 => U32(),
            GgufValueType.Int32 => *(int*)Take(4),
            GgufValueType.Float32 => *(float*)Take(4),
            GgufValueType.Bool => *Take(1) != 0,
            GgufValueType.String => Str(),
            GgufValueType.UInt64 => U64(),
            GgufValueType.Int64 => *(long*)Take(8),
            GgufValueType.Float64 => *(double*)Take(8),
            _ => throw new GgufFormatException($"{path}: metadata '{key}' has unknown value type {(uint)type}"),
        };
    }
}
