namespace Tandem.Benchmark.Workloads;

/// <summary>
/// A synthetic workload: distributions of prompt and answer lengths, capped so prompt + answer fits the
/// server's context (<see cref="MaxModelLength"/>). Built from a named preset by <see cref="Preset"/>.
/// </summary>
public sealed record WorkloadSpec(string Name, LengthDistribution Input, LengthDistribution Output, int? MaxModelLength)
{
    /// <summary>The names <see cref="Preset"/> accepts.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = ["chatbot", "code", "summarization", "fixed"];

    /// <summary>
    /// A named workload with its means replaced by <paramref name="inputLength"/> / <paramref name="outputLength"/> when
    /// given (lengths are exact for <c>fixed</c>) and its CVs by <paramref name="inputCv"/> / <paramref name="outputCv"/>.
    /// The default shapes echo the datasets DistServe evaluates on: chatbot (ShareGPT) has mid-length prompts and long,
    /// widely varying answers; code (HumanEval) short prompts and short answers; summarization (LongBench) long
    /// prompts and short answers. They are stand-ins for the traces, not fits of them.
    /// </summary>
    public static WorkloadSpec Preset(string name, int? inputLength = null, int? outputLength = null,
        double? inputCv = null, double? outputCv = null, int? maxModelLength = null)
    {
        if (ParseFixed(name) is var (fixedIn, fixedOut))
        {
            if (inputLength is not null || outputLength is not null)
                throw new ArgumentException($"'{name}' already sets both lengths: drop --input-len/--output-len, or use --workload fixed with them");
            if (inputCv is > 0 || outputCv is > 0) throw new ArgumentException($"'{name}' has fixed lengths: a length CV does not apply");
            name = "fixed";
            inputLength = fixedIn;
            outputLength = fixedOut;
        }
        (double inMean, double inCv, double outMean, double outCv) = name.ToLowerInvariant() switch
        {
            "chatbot" => (512.0, 0.8, 256.0, 0.9),
            "code" => (160.0, 0.4, 96.0, 0.5),
            "summarization" => (1536.0, 0.4, 96.0, 0.5),
            "fixed" => (128.0, 0.0, 128.0, 0.0),
            _ => throw new ArgumentException($"unknown workload '{name}' (known: {string.Join(", ", PresetNames)}, fixed:IN:OUT)"),
        };
        if (inputLength is < 1) throw new ArgumentException($"--input-len must be at least 1, got {inputLength}");
        if (outputLength is < 1) throw new ArgumentException($"--output-len must be at least 1, got {outputLength}");
        if (maxModelLength is < 2) throw new ArgumentException($"--max-model-len must be at least 2, got {maxModelLength}");
        if (inputCv is < 0 || outputCv is < 0) throw new ArgumentException("a length CV must be 0 or more");
        inMean = inputLength ?? inMean;
        outMean = outputLength ?? outMean;
        inCv = inputCv ?? inCv;
        outCv = outputCv ?? outCv;
        int cap = maxModelLength ?? int.MaxValue;
        if (cap != int.MaxValue && inCv == 0 && outCv == 0 && inMean + outMean > cap)
            throw new ArgumentException($"fixed lengths {inMean} + {outMean} do not fit --max-model-len {cap}");
        // Lengths stay below the cap; the pair is cut to fit it at sampling time.
        int maxLen = cap == int.MaxValue ? int.MaxValue : cap - 1;
        return new WorkloadSpec(name.ToLowerInvariant(),
            new LengthDistribution(inMean, inCv, 1, Math.Max(1, maxLen)),
            new LengthDistribution(outMean, outCv, 1, Math.Max(1, maxLen)),
            maxModelLength);
    }

    /// <summary>
    /// The lengths of <c>fixed:IN:OUT</c> (e.g. <c>fixed:128:32</c>: 128-token prompts, 32-token answers); null for
    /// any other name. Throws when the name starts with <c>fixed:</c> but the lengths are not two positive integers.
    /// </summary>
    public static (int Input, int Output)? ParseFixed(string name)
    {
        if (!name.StartsWith("fixed:", StringComparison.OrdinalIgnoreCase)) return null;
        var parts = name.Split(':');
        if (parts.Length == 3
            && int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int input) && input >= 1
            && int.TryParse(parts[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int output) && output >= 1)
            return (input, output);
        throw new ArgumentException($"--workload '{name}': expected fixed:IN:OUT with two positive token counts, e.g. fixed:128:32");
    }
}
