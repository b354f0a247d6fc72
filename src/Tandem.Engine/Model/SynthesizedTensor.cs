using Tandem.Engine.Gguf;

namespace Tandem.Engine.Model;

/// <summary>One tensor of a synthesized model: its name, ggml-order shape, the type asked for and the type stored.</summary>
public sealed record SynthesizedTensor(string Name, long[] Shape, GgmlType RequestedType, GgmlType Type)
{
    /// <summary>True when the row length did not fit the requested type's blocks and another type was used.</summary>
    public bool FellBack => Type != RequestedType;

    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);

    public long ByteSize => GgmlTypeInfo.RowBytes(Type, Shape[0]) * (ElementCount / Shape[0]);

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
