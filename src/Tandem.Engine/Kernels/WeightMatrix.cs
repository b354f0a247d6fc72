using Tandem.Engine.Gguf;

namespace Tandem.Engine.Kernels;

/// <summary>
/// A 2-D weight tensor in its stored type, viewed in place in the memory-mapped file:
/// <see cref="Rows"/> rows (outputs) of <see cref="Cols"/> elements (inputs).
/// </summary>
public readonly unsafe struct WeightMatrix
{
    public readonly byte* Data;
    public readonly GgmlType Type;
    public readonly int Rows;
    public readonly int Cols;
    public readonly long RowBytes;
    public readonly string Name;

    public WeightMatrix(GgufTensorInfo t)
    {
        if (t.Shape.Length is < 1 or > 2)
            throw new GgufFormatException($"tensor '{t.Name}' has {t.Shape.Length} dimensions, expected a matrix");
        Data = t.Data;
        Type = t.Type;
        Cols = checked((int)t.Shape[0]);
        Rows = t.Shape.Length > 1 ? checked((int)t.Shape[1]) : 1;
        RowBytes = GgmlTypeInfo.RowBytes(Type, Cols);
        Name = t.Name;
    }

    public ReadOnlySpan<byte> Row(int r) => new(Data + r * RowBytes, (int)RowBytes);
}
