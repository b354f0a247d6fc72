using Tandem.Server.Admission;
using Tandem.Server.Chat;
using Tandem.Server.Completions;
using Tandem.Server.Metrics;
using Tandem.Serving;

namespace Tandem.Server.Hosting;

/// <summary>Everything the endpoints share, registered once per server: the runtime, the options, metrics, shutdown, chat prompting, formats.</summary>
public sealed class TandemApi
{
    /// <param name="shutdown">The host's drain; null: one of its own that never drains (no host stops it).</param>
    public TandemApi(IServingEngine engine, TandemApiOptions options, TimeProvider? time = null, ShutdownDrain? shutdown = null)
    {
        Engine = engine;
        Options = options;
        Time = time ?? TimeProvider.System;
        Shutdown = shutdown ?? new ShutdownDrain(options.ShutdownTimeout, null, Time);
        StartedAt = Time.GetUtcNow();
        Chat = new ChatPrompts(engine.Tokenizer, options.ChatTemplateName, options.ChatTemplateFile, options.ModelChatTemplate);
        Metrics = new ServingMetrics(engine, options.ServedModelName, options.Replanner);
        CompletionFormat = new CompletionFormat(engine.Tokenizer);
        ChatFormat = new ChatFormat(engine.Tokenizer);
        Admission = new AdmissionControl(engine, options, Metrics);
        Metrics.AdmissionWaiting = () => Admission.Waiting;
    }

    public IServingEngine Engine { get; }
    public TandemApiOptions Options { get; }
    public TimeProvider Time { get; }
    public DateTimeOffset StartedAt { get; }
    public ServingMetrics Metrics { get; }
    /// <summary>Admits generation requests until shutdown, then drains them (503 for new ones, "abort" for those cut).</summary>
    public ShutdownDrain Shutdown { get; }
    public ChatPrompts Chat { get; }
    /// <summary>Refuses calls past --max-waiting-requests or --slo-ttft with 429, before they are queued.</summary>
    internal AdmissionControl Admission { get; }
    internal CompletionFormat CompletionFormat { get; }
    internal ChatFormat ChatFormat { get; }
}
