using Tandem.Engine.KvCache;
using Tandem.Engine.Tests;
using Tandem.Serving;

namespace Tandem.Server.Tests;

/// <summary>The real serving runtime on the shared tiny model, in each mode.</summary>
public static class TestRuntimes
{
    public static string ModelPath => TestPaths.Model("stories260K.gguf");

    /// <summary>A 32000-piece vocabulary and 2048 tokens of context: room for prompts that list tools (stories260K spells them out byte by byte into its 512).</summary>
    public static string LongContextModelPath => TestPaths.Model("tinyllama-v0-q4_0.gguf");

    /// <summary>
    /// One core per instance (the machine has two), F32 KV so greedy text is llama.cpp's exactly, 512 tokens of
    /// context (the model's), and by default enough blocks for the concurrency tests. Disaggregated, the default local
    /// prefill threshold prefills short prompts on the decode instance; tests of the KV transfer pass 0.
    /// </summary>
    public static IServingEngine Start(string mode, int kvBlocksPerInstance = 256, string? modelPath = null, int? localPrefillThreshold = null) => ServingRuntime.Start(new ServingOptions
    {
        ModelPath = modelPath ?? ModelPath,
        Mode = Enum.Parse<ServingMode>(mode, ignoreCase: true),
        KvElementType = KvElementType.F32,
        KvBlocksPerInstance = kvBlocksPerInstance,
        CoresPerInstance = 1,
        LocalPrefillThreshold = localPrefillThreshold ?? ServingOptions.DefaultLocalPrefillThreshold,
        OnWarning = _ => { },
    });
}
