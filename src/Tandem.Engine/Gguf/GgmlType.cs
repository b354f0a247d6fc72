namespace Tandem.Engine.Gguf;

/// <summary>Tensor element types, numbered exactly as ggml numbers them in GGUF files.</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
}

/// <summary>Block geometry of each type: how many elements a block holds and how many bytes it takes.</summary>
public static class GgmlTypeInfo
{
    /// <summary>Elements per block (1 for plain float types).</summary>
    public static int BlockSize(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 => 1,
        GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 or GgmlType.Q8_1 => 32,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.Q8_K => 256,
        _ => throw new NotSupportedException($"tensor type {Name(type)} is not supported"),
    };

    /// <summary>Bytes per block, as in ggml's type traits.</summary>
    public static int BlockBytes(GgmlType type) => type switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 or GgmlType.BF16 => 2,
        GgmlType.Q4_0 => 2 + 16,
        GgmlType.Q4_1 => 2 + 2 + 16,
        GgmlType.Q5_0 => 2 + 4 + 16,
        GgmlType.Q5_1 => 2 + 2 + 4 + 16,
        GgmlType.Q8_0 => 2 + 32,
        GgmlType.Q8_1 => 2 + 2 + 32,
        GgmlType.Q2_K => 16 + 64 + 2 + 2,
        GgmlType.Q3_K => 32 + 64 + 12 + 2,
        GgmlType.Q4_K => 2 + 2 + 12 + 128,
        GgmlType.Q5_K => 2 + 2 + 12 + 32 + 128,
        GgmlType.Q6_K => 128 + 64 + 16 + 2,
        GgmlType.Q8_K => 4 + 256 + 32,
        _ => throw new NotSupportedException($"tensor type {Name(type)} is not supported"),
    };

    /// <summary>True for the types this engine can load and compute with.</summary>
    public static bool IsSupported(GgmlType type) => type is
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or
        GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 or
        GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

    /// <summary>Bytes taken by a row of <paramref name="elements"/> elements (which must be a whole number of blocks).</summary>
    public static long RowBytes(GgmlType type, long elements)
    {
        int bs = BlockSize(type);
        if (elements % bs != 0)
            throw new ArgumentException($"a row of {elements} elements is not a whole number of {Name(type)} blocks ({bs})");
        return elements / bs * BlockBytes(type);
    }

    /// <summary>The name llama.cpp uses for the type (upper case, e.g. Q4_K).</summary>
    public static string Name(GgmlType type) => Enum.IsDefined(type) ? type.ToString() : $"type#{(uint)type}";

    /// <summary>Parses a name as llama.cpp writes it on its command lines (<c>f16</c>, <c>q4_k</c>, <c>Q8_0</c> ...).</summary>
    public static bool TryParse(string name, out GgmlType type)
    {
        foreach (var t in Enum.GetValues<GgmlType>())
        {
            if (string.Equals(t.ToString(), name, StringComparison.OrdinalIgnoreCase))
            {
                type = t;
                return true;
            }
        }
        type = default;
        return false;
    }
}
