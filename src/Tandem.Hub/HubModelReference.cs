using System.Text.RegularExpressions;

namespace Tandem.Hub;

/// <summary>
/// <c>hf:ORG/REPO</c>, <c>hf:ORG/REPO:QUANT</c> or <c>hf:ORG/REPO/PATH/FILE.gguf</c>, as llama.cpp's <c>-hf</c> takes them:
/// a repository and either a quantization tag (which picks one of its GGUF files) or one file by its path.
/// </summary>
public sealed partial record HubModelReference(string RepoId, string? Quant, string? FilePath)
{
    public const string Scheme = "hf:";

    /// <summary>What llama.cpp's <c>-hf</c> picks when no tag is given.</summary>
    public const string DefaultQuant = "Q4_K_M";

    public static bool IsHubReference(string? value) => value is not null && value.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase);

    /// <summary>Parses a <c>hf:</c> reference; <see cref="HubException"/> with the accepted forms when it is malformed.</summary>
    public static HubModelReference Parse(string value)
    {
        if (!IsHubReference(value))
            throw new HubException($"'{value}' is not a Hugging Face reference (hf:ORG/REPO[:QUANT|/FILE.gguf])");
        var m = Shape().Match(value[Scheme.Length..]);
        if (!m.Success)
            throw new HubException($"'{value}' is not a Hugging Face model reference: write hf:ORG/REPO, hf:ORG/REPO:QUANT (e.g. :Q8_0) or hf:ORG/REPO/FILE.gguf");
        string repo = $"{m.Groups["org"].Value}/{m.Groups["repo"].Value}";
        string? file = m.Groups["file"].Success ? m.Groups["file"].Value : null;
        if (file is not null && (!file.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) || file.Split('/').Any(p => p is "" or "." or "..")))
            throw new HubException($"'{value}': the file after the repository must be a GGUF file: hf:ORG/REPO/FILE.gguf (e.g. hf:{repo}/model-Q8_0.gguf)");
        return new HubModelReference(repo, m.Groups["quant"].Success ? m.Groups["quant"].Value : null, file);
    }

    public override string ToString() => Scheme + RepoId + (Quant is not null ? ":" + Quant : FilePath is not null ? "/" + FilePath : "");

    // Hub names: letters, digits, '-', '_', '.' (not starting with '.'); the file path may have folders.
    [GeneratedRegex(@"^(?<org>[A-Za-z0-9][A-Za-z0-9._-]*)/(?<repo>[A-Za-z0-9][A-Za-z0-9._-]*)(?::(?<quant>[A-Za-z0-9_.-]+)|/(?<file>[^:]+))?$")]
    private static partial Regex Shape();
}
