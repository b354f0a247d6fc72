namespace Tandem.Benchmark.Workloads;

/// <summary>
/// One request of a workload: the prompt (as text, or as token ids when the server is asked for exact prompt
/// lengths) and the number of tokens the answer is forced to have.
/// </summary>
/// <param name="Index">Position in the workload; records and CSV rows refer to it.</param>
/// <param name="Prompt">The prompt text, or null when <paramref name="PromptTokenIds"/> is sent instead.</param>
/// <param name="PromptTokenIds">The prompt as token ids (OpenAI completions accept them), or null.</param>
/// <param name="PromptTokens">Prompt length in tokens: exact for token ids, the intended length for synthetic text, an estimate for datasets.</param>
/// <param name="OutputTokens">Tokens the answer must have (sent as <c>max_tokens</c> with <c>ignore_eos</c>).</param>
public sealed record BenchRequest(int Index, string? Prompt, int[]? PromptTokenIds, int PromptTokens, int OutputTokens)
{
    /// <summary>
    /// Multi-turn: the index of the previous turn of this request's conversation. The request is then sent
    /// <see cref="ThinkSeconds"/> after that turn's answer ended, not at an arrival time; null: an independent request.
    /// </summary>
    public int? After { get; init; }
    /// <summary>The user's pause between reading the previous answer and sending this turn (with <see cref="After"/>).</summary>
    public double ThinkSeconds { get; init; }
}
