using Tandem.Engine.Gguf;

namespace Tandem.Engine.Model;

/// <summary>
/// A loaded model: the GGUF file (its weights mapped or in huge pages, <see cref="WeightPlacement"/>), its configuration and weights. Immutable and shareable:
/// any number of <see cref="Transformer"/>s (one per instance / thread team) can run on it at once.
/// </summary>
public sealed class LanguageModel : IDisposable
{
    public GgufFile File { get; }
    public ModelConfig Config { get; }
    public ModelWeights Weights { get; }

    private ModelFingerprint? _fingerprint;
    private readonly Lock _fingerprintLock = new();

    /// <summary>The model's identity for KV exchange (computed on first use: it hashes every weight).</summary>
    public ModelFingerprint Fingerprint
    {
        get
        {
            lock (_fingerprintLock) return _fingerprint ??= ModelFingerprint.Compute(this);
        }
    }

    private LanguageModel(GgufFile file, ModelConfig config, ModelWeights weights)
    {
        File = file;
        Config = config;
        Weights = weights;
    }

    /// <summary>
    /// Opens a GGUF file and checks that it is a runnable model (throws GgufFormatException with the reason otherwise);
    /// its weights placed as <paramref name="placement"/> says (by default in huge pages where the machine has them).
    /// </summary>
    public static LanguageModel Load(string path, WeightPlacement placement = WeightPlacement.Auto)
    {
        var file = GgufFile.Open(path, placement);
        try
        {
            var config = ModelConfig.FromGguf(file);
            var weights = ModelWeights.Load(file, config);
            return new LanguageModel(file, config, weights);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public void Dispose() => File.Dispose();
}
