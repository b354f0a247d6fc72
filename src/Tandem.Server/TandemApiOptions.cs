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
}
