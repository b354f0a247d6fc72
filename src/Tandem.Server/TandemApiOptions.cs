using Tandem.Planning.Profiles;
using Tandem.Planning.Replanning;

namespace Tandem.Server;

/// <summary>How the OpenAI-compatible API presents the model and what it accepts.</summary>
public sealed class TandemApiOptions
{
    /// <summary>The name clients put in <c>model</c> and that /v1/models lists (vLLM's --served-model-name).</summary>
    public string ServedModelName { get; set; } = "model";

    /// <summary>
    /// A built-in chat template name (llama.cpp's names: chatml, llama2, llama3, ...) or a Jinja template text, used
    /// instead of the model's own (llama-server's <c>--chat-template</c>).
    /// </summary>
    public string? ChatTemplateName { get; set; }

    /// <summary>A file holding a Jinja chat template, used instead of the model's own and of <see cref="ChatTemplateName"/> (<c>--chat-template-file</c>).</summary>
    public string? ChatTemplateFile { get; set; }

    /// <summary>The model's Jinja chat template (GGUF key tokenizer.chat_template): rendered when nothing else is chosen.</summary>
    public string? ModelChatTemplate { get; set; }

    /// <summary>Largest request body accepted; larger ones get 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 8 << 20;

    /// <summary>Largest <c>n</c> (choices per prompt), and the most choices one call may fan out to in all.</summary>
    public int MaxChoices { get; set; } = 128;

    /// <summary>
    /// How long generation requests in flight may run once shutdown begins (new ones get 503 at once); those still
    /// running then end with finish_reason "abort". ASP.NET Core's own default, 30 s.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Watches the workload and recommends a new placement when it drifts from the plan (<c>tandem serve --plan</c>
    /// with <c>--replan-window</c>/<c>--replan-threshold</c>); fed every finished request, shown by GET /plan and
    /// /metrics. Not owned: the caller starts and disposes it. Null: GET /plan says re-planning is off.
    /// </summary>
    public Replanner? Replanner { get; set; }

    /// <summary>
    /// Most requests (choices) admitted and still waiting for their first token; past it a new request gets 429 at
    /// once (vLLM's and Mooncake's queue bound). Null: no bound.
    /// </summary>
    public int? MaxWaitingRequests { get; set; }

    /// <summary>
    /// The TTFT SLO: a request whose estimated TTFT (the prefill work waiting before it, then its own) exceeds it gets
    /// 429 at once (Mooncake's early rejection). Null: no such check.
    /// </summary>
    public TimeSpan? SloTtft { get; set; }

    /// <summary>
    /// Prefill step times fitted by <c>tandem profile</c> for <see cref="SloTtft"/>'s estimate; null: the step times the
    /// instances measure live.
    /// </summary>
    public ConfigLatency? PrefillProfile { get; set; }

    /// <summary>Longest a generation request may run from arrival; then it ends with finish_reason "abort" and its KV is freed. Null: no limit.</summary>
    public TimeSpan? RequestTimeout { get; set; }

    /// <summary>An instance with work that finishes no loop iteration for this long is reported stuck by /health (503).</summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// How often the throughput / queue line ("Avg prompt throughput: ... Running: ... Waiting: ... KV cache usage: ...",
    /// as vLLM logs it) is written, while there is activity. Null or zero: never.
    /// </summary>
    public TimeSpan? StatsLogInterval { get; set; } = TimeSpan.FromSeconds(10);
}
