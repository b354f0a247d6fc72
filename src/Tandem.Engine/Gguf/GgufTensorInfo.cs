namespace Tandem.Engine.Gguf;

/// <summary>
/// A tensor's description and its bytes (in the memory-mapped file or its huge-page copy). <see cref="Shape"/> is in ggml order:
/// Shape[0] is the innermost dimension (the length of a row); a weight matrix with Shape = [n_in, n_out]
/// has n_out rows of n_in elements.
/// </summary>
public sealed unsafe class GgufTensorInfo
{
    public string Name { get; }
    public long[] Shape { get; }
    public GgmlType Type { get; }
    /// <summary>Offset of the data from the start of the file's data section.</summary>
    public ulong Offset { get; }
    public long ByteSize { get; }
    /// <summary>Pointer to the first byte of the data, in the mapping or its huge-page copy (<see cref="GgufFile.Placement"/>); valid while the file is open.</summary>
    public byte* Data { get; internal set; }

    public GgufTensorInfo(string name, long[] shape, GgmlType type, ulong offset, long byteSize)
    {
        Name = name;
        Shape = shape;
        Type = type;
        Offset = offset;
        ByteSize = byteSize;
    }

    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (long d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>Elements per row (Shape[0]).</summary>
    public long RowLength => Shape.Length > 0 ? Shape[0] : 1;

    /// <summary>Number of rows (product of the outer dimensions).</summary>
    public long RowCount => ElementCount / Math.Max(1, RowLength);

    public long RowBytes => GgmlTypeInfo.RowBytes(Type, RowLength);

    /// <summary>The bytes of row <paramref name="row"/>.</summary>
    public ReadOnlySpan<byte> Row(long row) => new(Data + row * RowBytes, checked((int)RowBytes));

    /// <summary>All bytes of the tensor (tensors over 2 GiB must be read by rows).</summary>
    public ReadOnlySpan<byte> Bytes => new(Data, checked((int)ByteSize));

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
