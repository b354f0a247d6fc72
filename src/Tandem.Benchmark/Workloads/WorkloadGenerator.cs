namespace Tandem.Benchmark.Workloads;

/// <summary>Draws the requests of a synthetic workload from a seed: the same seed gives the same prompts and lengths.</summary>
public static class WorkloadGenerator
{
    /// <param name="exactText">With text prompts: builds them to exact token lengths with the model's tokenizer (null: common words, about one token each).</param>
    public static IReadOnlyList<BenchRequest> Generate(WorkloadSpec spec, int count, int seed,
        PromptFormat format = PromptFormat.Text, int tokenIdMin = PromptBuilder.DefaultTokenIdMin, int tokenIdMax = PromptBuilder.DefaultTokenIdMax,
        ExactTextPromptBuilder? exactText = null)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), $"--num-prompts must be at least 1, got {count}");
        var rng = new Random(seed);
        var requests = new BenchRequest[count];
        for (int i = 0; i < count; i++)
        {
            int input = spec.Input.Sample(rng);
            int output = spec.Output.Sample(rng);
            if (spec.MaxModelLength is int cap && input + output > cap)
            {
                // The answer length is what the workload is about (TPOT, decode load): cut the prompt first.
                output = Math.Min(output, cap - 1);
                input = cap - output;
            }
            requests[i] = Request(i, rng, input, output, format, tokenIdMin, tokenIdMax, exactText);
        }
        return requests;
    }

    /// <summary>One request with a fresh prompt of <paramref name="input"/> tokens in the given format.</summary>
    internal static BenchRequest Request(int index, Random rng, int input, int output, PromptFormat format, int tokenIdMin, int tokenIdMax,
        ExactTextPromptBuilder? exactText) =>
        format == PromptFormat.TokenIds
            ? new BenchRequest(index, null, PromptBuilder.TokenIds(rng, input, tokenIdMin, tokenIdMax), input, output)
            : new BenchRequest(index, exactText is null ? PromptBuilder.Text(rng, input) : exactText.Text(rng, input), null, input, output);
}
