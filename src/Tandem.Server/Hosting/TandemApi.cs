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
        var c = engine.Config;
        // Per token and layer the cache holds one K and one V row of KvDim elements; F32 unless told otherwise.
        long kvBytesPerToken = options.KvBytesPerToken ?? (long)c.BlockCount * 2 * c.KvDim * sizeof(float);
        Metrics = new ServingMetrics(engine, options.ServedModelName, kvBytesPerToken);
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
