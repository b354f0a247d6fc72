using System.CommandLine;
using System.Globalization;
using Tandem.Hub;

namespace Tandem.Cli;

/// <summary>
/// <c>--model</c> of the commands that load a model: a GGUF file, <c>hf:ORG/REPO[:QUANT|/FILE.gguf]</c> (from the
/// Hugging Face cache, downloaded into it when missing), or — for generate and serve — nothing, which means the tiny
/// model shipped beside the CLI, so a fresh clone answers out of the box.
/// </summary>
public static class ModelArgument
{
    /// <summary>Karpathy's stories260K (MIT; see models/README.md beside the CLI).</summary>
    public const string BundledFileName = "stories260K.gguf";

    public static string BundledPath => Path.Combine(AppContext.BaseDirectory, "models", BundledFileName);

    private const string Forms = "a GGUF file, or hf:ORG/REPO[:QUANT|/FILE.gguf] from the Hugging Face Hub (cached under HF_HOME; HF_TOKEN, HF_HUB_OFFLINE, HF_ENDPOINT apply)";

    /// <summary>The option; with <paramref name="bundledDefault"/> it may be omitted and the bundled model is used.</summary>
    public static Option<string?> Create(bool bundledDefault, string what = "Model") => new("--model", "-m")
    {
        Description = bundledDefault
            ? $"{what}: {Forms} (default: the bundled {BundledFileName}, a 260K-parameter TinyStories demo)"
            : $"{what}: {Forms}",
        Required = !bundledDefault,
    };

    /// <summary>The local file <paramref name="value"/> names; says on standard error when it is the bundled model or a download.</summary>
    public static string Resolve(string? value, CliConsole console, CancellationToken cancellation = default)
    {
        if (value is null)
        {
            if (!File.Exists(BundledPath))
                throw new CliUsageException($"no --model given and the bundled {BundledFileName} is not at {BundledPath}: give --model FILE or --model hf:ORG/REPO");
            console.Error.WriteLine($"model: none given, using the bundled {BundledFileName} (a 260K-parameter demo; --model FILE or --model hf:ORG/REPO[:QUANT] for a real one)");
            return BundledPath;
        }
        if (!HubModelReference.IsHubReference(value))
            return value;
        var reference = HubModelReference.Parse(value);
        using var hub = new HubClient(HubSettings.FromEnvironment(), m => console.Error.WriteLine($"warning: {m}"));
        string path = hub.ResolveAsync(reference, new ProgressLine(console.Error), cancellation).GetAwaiter().GetResult();
        console.Error.WriteLine($"model: {reference} is {path}");
        return path;
    }

    /// <summary>A download's progress on standard error: one line per tenth of the file (no terminal tricks, so logs stay readable).</summary>
    private sealed class ProgressLine(TextWriter error) : IProgress<HubDownloadProgress>
    {
        private int _lastTenth = -1;

        public void Report(HubDownloadProgress p)
        {
            int tenth = p.TotalBytes == 0 ? 10 : (int)(p.Bytes * 10 / p.TotalBytes);
            if (tenth == _lastTenth) return;
            _lastTenth = tenth;
            error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"downloading {p.FilePath}: [{new string('#', tenth)}{new string('.', 10 - tenth)}] {tenth * 10,3}% of {HumanUnits.Bytes(p.TotalBytes)}"));
        }
    }
}
