namespace Tandem.Benchmark.Workloads;

/// <summary>
/// The prompts each run of a benchmark sends, and those of its warm-up. A server that keeps prompts it has seen
/// (llama.cpp's server reuses a slot's cached prompt, vLLM and SGLang cache prefixes) answers a prompt it saw before
/// partly from cache: a warm-up that sent the first measured prompt, or a sweep that sent the same prompts at every
/// rate, timed cache hits instead of prefills. So every run after the first gets prompts of its own — the same
/// lengths, answers and arrival pattern, new contents drawn from the seed and the run's number — and warm-up requests
/// draw theirs from a stream no run uses. Everything stays reproducible from the seed.
/// <para>
/// Prompts read from a dataset are the file's own text and are sent unchanged in every run; only synthetic prompts
/// (workload presets and traces) are redrawn. The report's cached-prompt-token counts show what a cache still did.
/// </para>
/// </summary>
public sealed class RunPrompts
{
    private readonly IReadOnlyList<BenchRequest> _workload;
    private readonly int _seed;
    private readonly PromptFormat _format;
    private readonly int _tokenIdMin;
    private readonly int _tokenIdMax;
    private readonly ExactTextPromptBuilder? _exactText;
    private readonly bool _redraw;
    private readonly Func<int, IReadOnlyList<BenchRequest>>? _drawRun;

    /// <param name="workload">The requests as the workload drew them from <paramref name="seed"/>: the first run sends these.</param>
    /// <param name="redraw">False for a dataset's prompts, which are sent as they are in every run.</param>
    public RunPrompts(IReadOnlyList<BenchRequest> workload, int seed, PromptFormat format = PromptFormat.Text,
        int tokenIdMin = PromptBuilder.DefaultTokenIdMin, int tokenIdMax = PromptBuilder.DefaultTokenIdMax,
        ExactTextPromptBuilder? exactText = null, bool redraw = true)
        : this(workload, seed, format, tokenIdMin, tokenIdMax, exactText, redraw, null)
    {
    }

    /// <summary>
    /// Prompts whose runs are whole new draws of a workload from a seed (<paramref name="drawRun"/>): a multi-turn
    /// workload's prompts share prefixes by design, which redrawing each prompt alone would break.
    /// </summary>
    public RunPrompts(IReadOnlyList<BenchRequest> workload, int seed, Func<int, IReadOnlyList<BenchRequest>> drawRun)
        : this(workload, seed, PromptFormat.Text, PromptBuilder.DefaultTokenIdMin, PromptBuilder.DefaultTokenIdMax, null, true, drawRun)
    {
    }

    private RunPrompts(IReadOnlyList<BenchRequest> workload, int seed, PromptFormat format, int tokenIdMin, int tokenIdMax,
        ExactTextPromptBuilder? exactText, bool redraw, Func<int, IReadOnlyList<BenchRequest>>? drawRun)
    {
        _drawRun = drawRun;
        if (workload.Count == 0) throw new ArgumentException("a workload needs at least one request", nameof(workload));
        _workload = workload;
        _seed = seed;
        _format = format;
        _tokenIdMin = tokenIdMin;
        _tokenIdMax = tokenIdMax;
        _exactText = exactText;
        _redraw = redraw;
    }

    /// <summary>Whether runs after the first get prompts of their own (false for a dataset).</summary>
    public bool RedrawsPerRun => _redraw;

    /// <summary>The requests of run <paramref name="run"/> (0-based, in the order runs happen: a sweep's rates, a search's probes).</summary>
    public IReadOnlyList<BenchRequest> ForRun(int run)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(run);
        if (run == 0 || !_redraw) return _workload;
        if (_drawRun is not null) return _drawRun(StreamSeed(_seed, run));
        var rng = new Random(StreamSeed(_seed, run));
        return _workload.Select(r => Drawn(r, rng)).ToArray();
    }

    /// <summary>
    /// Warm-up request <paramref name="i"/>: as long as workload request i (cycling) and answered as long, with a prompt
    /// no run sends (warm-up i draws from stream −1 − i; runs use 1, 2, ...).
    /// </summary>
    public BenchRequest Warmup(int i)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(i);
        if (_drawRun is not null) return _drawRun(StreamSeed(_seed, -1 - i))[0]; // a first turn: it follows nothing
        var rng = new Random(StreamSeed(_seed, -1 - i));
        return Drawn(_workload[i % _workload.Count], rng);
    }

    /// <summary>A new prompt of <paramref name="r"/>'s length in the workload's format (a dataset's warm-up: its kind of text).</summary>
    private BenchRequest Drawn(BenchRequest r, Random rng) =>
        WorkloadGenerator.Request(r.Index, rng, r.PromptTokens, r.OutputTokens, _format, _tokenIdMin, _tokenIdMax, _exactText);

    /// <summary>
    /// A seed for stream <paramref name="stream"/> of <paramref name="seed"/>: SplitMix64's finaliser over both, so
    /// nearby seeds and streams give unrelated generators.
    /// </summary>
    internal static int StreamSeed(int seed, int stream)
    {
        ulong z = ((ulong)(uint)seed << 32 | (uint)stream) + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (int)(z ^ (z >> 31));
    }
}
