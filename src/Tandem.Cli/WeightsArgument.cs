using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Tandem.Engine.Gguf;
using Tandem.Engine.Model;

namespace Tandem.Cli;

/// <summary>
/// <c>--weights</c> of the commands that run a model: where its weights live (<see cref="WeightPlacement"/>), and the
/// load that says where they went and how long the copy took (a line the command prints where its start-up says things:
/// generate at once on standard error, serve once its options have all been checked, so a bad option stays one error line).
/// </summary>
public static class WeightsArgument
{
    public static Option<string> Create()
    {
        var option = new Option<string>("--weights")
        {
            Description = "Where the weights live: huge-pages (copied at load into memory backed by 2 MB pages: faster " +
                "steps, one copy per process), mapped (read in place from the file: instant, shared by the processes of a " +
                "host, like llama.cpp's default mmap) or auto (huge-pages where Linux has transparent huge pages on)",
            DefaultValueFactory = _ => "auto",
        };
        option.AcceptOnlyFromAmong(WeightPlacementNames.All);
        return option;
    }

    /// <summary>Loads <paramref name="path"/> with the placement <paramref name="value"/> names; <paramref name="description"/> says where its weights went.</summary>
    public static LanguageModel Load(string path, string? value, out string description)
    {
        var placement = WeightPlacementNames.Parse(value) ?? WeightPlacement.Auto;
        if (placement == WeightPlacement.HugePages && !HugePageMemory.Available)
            throw new CliUsageException($"--weights huge-pages: transparent huge pages are off on this machine ({HugePageMemory.SettingPath}); use --weights mapped");
        var clock = Stopwatch.StartNew();
        var model = LanguageModel.Load(path, placement);
        description = Describe(model.File, clock.Elapsed);
        return model;
    }

    /// <summary>One line: where the weights are, and for a copy its size and time.</summary>
    public static string Describe(GgufFile file, TimeSpan loadTime) => file.Placement == WeightPlacement.HugePages
        ? string.Create(CultureInfo.InvariantCulture,
            $"weights: {HumanUnits.Bytes(file.FileSize - file.DataOffset)} copied into huge-page memory in {loadTime.TotalSeconds:0.00} s{(file.HugePagesAdvised ? "" : " (the kernel refused the advice: base pages)")}")
        : HugePageMemory.Available ? "weights: mapped from the file"
        : "weights: mapped from the file (transparent huge pages are off on this machine)";
}
