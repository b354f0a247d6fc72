using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tandem.Server.Admission;
using Tandem.Server.Chat;
using Tandem.Server.Completions;
using Tandem.Server.Cluster;
using Tandem.Server.Logging;
using Tandem.Server.Metrics;
using Tandem.Server.Telemetry;
using Tandem.Serving;

namespace Tandem.Server.Hosting;

/// <summary>Everything the endpoints share, registered once per server: the runtime, the options, metrics, shutdown, chat prompting, formats.</summary>
public sealed class TandemApi : IDisposable
{
    /// <param name="shutdown">The host's drain; null: one of its own that never drains (no host stops it).</param>
    /// <param name="logging">Where the per-request lines go; null: nowhere.</param>
    public TandemApi(IServingEngine engine, TandemApiOptions options, TimeProvider? time = null, ShutdownDrain? shutdown = null, ILoggerFactory? logging = null)
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
        Telemetry = new RequestTelemetry(Metrics, (logging ?? NullLoggerFactory.Instance).CreateLogger(ServerLog.RequestsCategory),
            options.ServedModelName, phasesFromTimeline: engine is not ClusterEngine);
    }

    public IServingEngine Engine { get; }
    public TandemApiOptions Options { get; }
    public TimeProvider Time { get; }
    public DateTimeOffset StartedAt { get; }
    public ServingMetrics Metrics { get; }
    /// <summary>Each request's metrics, log line and trace span.</summary>
    internal RequestTelemetry Telemetry { get; }
    /// <summary>Admits generation requests until shutdown, then drains them (503 for new ones, "abort" for those cut).</summary>
    public ShutdownDrain Shutdown { get; }
    public ChatPrompts Chat { get; }
    /// <summary>The server's requests to itself before readiness (tandem serve; a server made in code has none unless asked).</summary>
    public ServingWarmUp WarmUp { get; } = new();
    /// <summary>Refuses calls past --max-waiting-requests or --slo-ttft with 429, before they are queued.</summary>
    internal AdmissionControl Admission { get; }
    internal CompletionFormat CompletionFormat { get; }
    internal ChatFormat ChatFormat { get; }

    public void Dispose() => Metrics.Dispose();
}
