using Tandem.Serving;

namespace Tandem.Extensions.AI;

/// <summary>
/// What <see cref="TandemService"/> loads and how it serves it, for the options pattern
/// (<c>services.AddTandem(o =&gt; …)</c>, or <c>services.Configure&lt;TandemOptions&gt;(configuration.GetSection("Tandem"))</c>).
/// </summary>
public sealed class TandemOptions
{
    /// <summary>A GGUF file, or <c>hf:ORG/REPO[:QUANT|/FILE.gguf]</c> from the Hugging Face cache (downloaded on start when missing).</summary>
    public string? Model { get; set; }

    /// <summary>The model id responses carry (default: the file name without <c>.gguf</c>).</summary>
    public string? ModelId { get; set; }

    /// <summary>A built-in chat template name instead of the one the model's GGUF carries (e.g. "chatml").</summary>
    public string? ChatTemplate { get; set; }

    /// <summary>
    /// The runtime's placement and sizes (mode, instances, cores, KV memory, context); its model fields are ignored —
    /// <see cref="Model"/> names the model.
    /// </summary>
    public ServingOptions Serving { get; set; } = new();
}
