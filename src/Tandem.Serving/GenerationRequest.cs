using System.Diagnostics;
using Tandem.Engine.Sampling;
using Tandem.Engine.Structured;

namespace Tandem.Serving;

/// <summary>One request as the runtime sees it: prompt tokens and how to continue them (one choice; the API layer fans out n &gt; 1).</summary>
public sealed record GenerationRequest
{
    /// <summary>Unique id (the API's completion id plus the choice index).</summary>
    public required string Id { get; init; }
    public required int[] PromptTokens { get; init; }
    public int MaxTokens { get; init; } = 16;
    public SamplingParams Sampling { get; init; } = SamplingParams.Default;
    /// <summary>Strings that end generation; the text before one is returned, the string itself is not.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>Keep generating past end-of-generation tokens (benchmarks force output lengths this way).</summary>
    public bool IgnoreEos { get; init; }
    /// <summary>
    /// Tokens that end generation besides end-of-generation (vLLM's <c>stop_token_ids</c>): the token counts as
    /// generated, its text is returned only with <see cref="IncludeStopStringInOutput"/>. Not affected by IgnoreEos.
    /// </summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];
    /// <summary>Return the stop string (or stop token's text) that ended generation as the end of the text (vLLM's include_stop_str_in_output).</summary>
    public bool IncludeStopStringInOutput { get; init; }
    /// <summary>
    /// Structured output: the output must be JSON of this grammar (any object, or a schema's values), enforced at
    /// every sampled token; end of sequence only once it is complete. Null: free text.
    /// </summary>
    public JsonGrammar? StructuredOutput { get; init; }
    /// <summary>
    /// Tool calls enforced where the reply writes them (tool_choice "auto"): free text until the format's call marker,
    /// then the call's grammar until it ends. Ignored when <see cref="StructuredOutput"/> is set. Null: none.
    /// </summary>
    public ToolCallSyntax? ToolCalls { get; init; }
    /// <summary>
    /// The trace span this request runs under (OpenTelemetry), which a cluster frontend passes to its workers so their
    /// spans join the request's trace; default: none.
    /// </summary>
    public ActivityContext TraceContext { get; init; }
}
