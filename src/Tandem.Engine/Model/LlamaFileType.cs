using Tandem.Engine.Gguf;

namespace Tandem.Engine.Model;

/// <summary>
/// llama.cpp's <c>llama_ftype</c> numbers (llama.h), stored as <c>general.file_type</c>: the "mostly" type
/// of a file's weights. Informational for llama.cpp's loader, but tools display it, so it must be right.
/// </summary>
public static class LlamaFileType
{
    /// <summary>
    /// The file type llama.cpp records when all quantizable weights were requested as <paramref name="weightType"/>.
    /// For K-quants this is the "_S" variant, the one whose default tensor type it is.
    /// </summary>
    public static uint ForWeightType(GgmlType weightType) => weightType switch
    {
        GgmlType.F32 => 0,   // LLAMA_FTYPE_ALL_F32
        GgmlType.F16 => 1,   // LLAMA_FTYPE_MOSTLY_F16
        GgmlType.Q4_0 => 2,  // LLAMA_FTYPE_MOSTLY_Q4_0
        GgmlType.Q4_1 => 3,  // LLAMA_FTYPE_MOSTLY_Q4_1
        GgmlType.Q8_0 => 7,  // LLAMA_FTYPE_MOSTLY_Q8_0
        GgmlType.Q5_0 => 8,  // LLAMA_FTYPE_MOSTLY_Q5_0
        GgmlType.Q5_1 => 9,  // LLAMA_FTYPE_MOSTLY_Q5_1
        GgmlType.Q4_K => 14, // LLAMA_FTYPE_MOSTLY_Q4_K_S
        GgmlType.Q5_K => 16, // LLAMA_FTYPE_MOSTLY_Q5_K_S
        GgmlType.Q6_K => 18, // LLAMA_FTYPE_MOSTLY_Q6_K
        GgmlType.BF16 => 32, // LLAMA_FTYPE_MOSTLY_BF16
        _ => throw new ArgumentException($"no llama.cpp file type for weights of type {GgmlTypeInfo.Name(weightType)}"),
    };

    /// <summary>llama.cpp's name of a file type number, as llama-cli prints it (e.g. <c>Q4_K - Small</c>).</summary>
    public static string Name(long fileType) => fileType switch
    {
        0 => "all F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K - Medium",
        11 => "Q3_K - Small",
        12 => "Q3_K - Medium",
        13 => "Q3_K - Large",
        14 => "Q4_K - Small",
        15 => "Q4_K - Medium",
        16 => "Q5_K - Small",
        17 => "Q5_K - Medium",
        18 => "Q6_K",
        32 => "BF16",
        _ => $"file type {fileType}",
    };
}
