using System.Text;

namespace Tandem.Engine.Tests.Tokenization;

/// <summary>Writes a tensor-less GGUF v3 file holding only tokenizer metadata (strings and string arrays).</summary>
internal static class GgufTokenizerFileWriter
{
    public static string Write(string dir, string model, string[] tokens)
    {
        string path = Path.Combine(dir, "vocab-" + model + ".gguf");
        using var w = new BinaryWriter(File.Create(path));
        w.Write(0x46554747u); // "GGUF"
        w.Write(3u);
        w.Write(0UL);         // tensors
        w.Write(2UL);         // metadata entries
        Str(w, "tokenizer.ggml.model");
        w.Write(8u);          // string
        Str(w, model);
        Str(w, "tokenizer.ggml.tokens");
        w.Write(9u);          // array
        w.Write(8u);          // of string
        w.Write((ulong)tokens.Length);
        foreach (var t in tokens) Str(w, t);
        return path;
    }

    private static void Str(BinaryWriter w, string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)b.Length);
        w.Write(b);
    }
}
