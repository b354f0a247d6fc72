using Tandem.Server.Chat;
using Tandem.Server.Completions;
using Tandem.Server.Metrics;
using Tandem.Serving;

namespace Tandem.Server.Hosting;

/// <summary>Everything the endpoints share, registered once per server: the runtime, the options, metrics, chat prompting, formats.</summary>
public sealed class TandemApi
{
    public TandemApi(IServingEngine engine, TandemApiOptions options, TimeProvider? time = null)
    {
        Engine = engine;
        Options = options;
        Time = time ?? TimeProvider.System;
        StartedAt = Time.GetUtcNow();
        Chat = new ChatPrompts(engine.Tokenizer, options.ChatTemplateName, options.ModelChatTemplate);
        Metrics = new ServingMetrics(engine, options.ServedModelName);
        CompletionFormat = new CompletionFormat(engine.Tokenizer);
        ChatFormat = new ChatFormat(engine.Tokenizer);
    }

    public IServingEngine Engine { get; }
    public TandemApiOptions Options { get; }
    public TimeProvider Time { get; }
    public DateTimeOffset StartedAt { get; }
    public ServingMetrics Metrics { get; }
    public ChatPrompts Chat { get; }
    internal CompletionFormat CompletionFormat { get; }
    internal ChatFormat ChatFormat { get; }
}
