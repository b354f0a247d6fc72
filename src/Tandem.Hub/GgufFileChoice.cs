using System.Text.RegularExpressions;

namespace Tandem.Hub;

/// <summary>
/// Which GGUF file of a repository a reference means, as llama.cpp's <c>-hf</c> chooses: the named file; else the file
/// whose name carries the quantization tag (case-insensitive, default <see cref="HubModelReference.DefaultQuant"/>);
/// with no tag given and no Q4_K_M file, the first GGUF. Projector files (<c>mmproj</c>) are never the model.
/// </summary>
public static partial class GgufFileChoice
{
    /// <summary>The chosen path, or a <see cref="HubException"/> that lists what the repository has.</summary>
    public static string Choose(HubModelReference reference, IReadOnlyList<string> files, string where)
    {
        if (reference.FilePath is { } wanted)
        {
            return files.FirstOrDefault(f => string.Equals(f, wanted, StringComparison.Ordinal))
                ?? throw new HubException($"{reference}: {reference.RepoId} has no file {wanted} {where}{Listing(files)}");
        }
        var models = files.Where(f => f.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)
                && !Path.GetFileName(f).Contains("mmproj", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal).ToList();
        if (models.Count == 0)
            throw new HubException($"{reference}: {reference.RepoId} has no GGUF file {where}{Listing(files)}");
        string quant = reference.Quant ?? HubModelReference.DefaultQuant;
        // The tag between separators (…-Q4_K_M.gguf, ….q4_k_m-00001-of-00002.gguf), so Q4_K does not match Q4_K_M.
        var tagged = models.Where(f => Regex.IsMatch(Path.GetFileName(f), $@"(^|[-_.]){Regex.Escape(quant)}([-_.]|$)", RegexOptions.IgnoreCase)).ToList();
        if (tagged.Count > 0)
            return tagged.FirstOrDefault(f => !Split().IsMatch(f)) ?? tagged[0];
        if (reference.Quant is null)
            return models[0];
        throw new HubException($"{reference}: {reference.RepoId} has no {quant} file {where}; its GGUF files: {string.Join(", ", models)}");
    }

    /// <summary>A split model's part (<c>-00001-of-00003.gguf</c>): the engine loads single files only.</summary>
    public static bool IsSplitPart(string file) => Split().IsMatch(file);

    private static string Listing(IReadOnlyList<string> files) =>
        files.Count == 0 ? " (it has no files)" : $"; it has: {string.Join(", ", files.Take(20))}{(files.Count > 20 ? $" and {files.Count - 20} more" : "")}";

    [GeneratedRegex(@"-\d{5}-of-\d{5}\.gguf$", RegexOptions.IgnoreCase)]
    private static partial Regex Split();
}
