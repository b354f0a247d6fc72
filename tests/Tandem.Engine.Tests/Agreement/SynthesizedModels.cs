using Tandem.Engine.Gguf;
using Tandem.Engine.Model;

namespace Tandem.Engine.Tests.Agreement;

/// <summary>
/// Random-weight models written once per test run by our own GGUF writer (tiny shapes, so they take
/// milliseconds), cached by preset and type so several test classes can share them.
/// </summary>
public static class SynthesizedModels
{
    private static readonly string Dir = TestPaths.NewTempDir();
    private static readonly Dictionary<string, string> Cache = [];
    private static readonly Lock Gate = new();

    /// <summary>Vocabulary donors: the SentencePiece one for llama shapes, byte-level BPE for qwen2.</summary>
    public static string VocabFor(string preset) =>
        preset.Contains("qwen", StringComparison.Ordinal) ? TestPaths.Vocab("ggml-vocab-gpt-2.gguf") : TestPaths.Model("stories260K.gguf");

    public static string Get(string preset, GgmlType type, ulong seed = 7)
    {
        string key = $"{preset}-{type}-{seed}";
        lock (Gate)
        {
            if (Cache.TryGetValue(key, out var path)) return path;
            path = Path.Combine(Dir, key + ".gguf");
            ModelSynthesizer.Synthesize(new SynthesisOptions
            {
                Preset = ModelPresets.Get(preset),
                WeightType = type,
                VocabFrom = VocabFor(preset),
                Seed = seed,
            }, path);
            Cache[key] = path;
            return path;
        }
    }
}
