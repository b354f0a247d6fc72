using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Tandem.Engine.Generation;
using Tandem.Serving;

namespace Tandem.Extensions.AI;

/// <summary>
/// <see cref="IChatClient"/> over Tandem's serving runtime in this process: the conversation is rendered with the
/// model's chat template (or the one chosen in <see cref="TandemOptions.ChatTemplate"/>), tokenized, and submitted to
/// the runtime as the OpenAI endpoint submits it — the same request gets the same text, without HTTP.
/// </summary>
public sealed class TandemChatClient(TandemService service) : IChatClient
{
    private ChatClientMetadata? _metadata;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (handle, id) = Submit(messages, options);
        using var cancel = cancellationToken.Register(handle.Cancel);
        var text = new System.Text.StringBuilder();
        await foreach (var token in handle.Tokens.ReadAllAsync(CancellationToken.None))
            text.Append(token.Text);
        var outcome = await handle.Completion;
        cancellationToken.ThrowIfCancellationRequested();
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text.ToString()) { MessageId = id })
        {
            ResponseId = id,
            ModelId = service.ModelId,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = Finish(outcome.FinishReason),
            Usage = Usage(outcome),
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (handle, id) = Submit(messages, options);
        using var cancel = cancellationToken.Register(handle.Cancel);
        try
        {
            var created = DateTimeOffset.UtcNow;
            await foreach (var token in handle.Tokens.ReadAllAsync(CancellationToken.None))
            {
                if (token.Text.Length == 0) continue; // held back: part of a character, or of a possible stop string
                yield return Update(id, created, token.Text);
            }
            var outcome = await handle.Completion;
            cancellationToken.ThrowIfCancellationRequested();
            var last = Update(id, created, null);
            last.FinishReason = Finish(outcome.FinishReason);
            last.Contents.Add(new UsageContent(Usage(outcome)));
            yield return last;
        }
        finally
        {
            handle.Cancel(); // a caller that stops reading early frees the request's KV (no-op once it finished)
        }
    }

    private ChatResponseUpdate Update(string id, DateTimeOffset created, string? text) => new(ChatRole.Assistant, text)
    {
        ResponseId = id,
        MessageId = id,
        ModelId = service.ModelId,
        CreatedAt = created,
    };

    private (RequestHandle Handle, string Id) Submit(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var engine = service.Engine;
        ChatRequestMapping.RejectUnsupported(options);
        var template = service.ChatTemplate ?? throw new InvalidOperationException("Tandem's chat template is not chosen yet: the service has not started");
        var conversation = ChatRequestMapping.Messages(messages, options);
        string prompt = template.Render(new Tandem.Engine.Chat.ChatRenderRequest(conversation));
        // As the HTTP API tokenizes: the template's markers are special tokens, and BOS comes from the vocabulary
        // unless the template wrote its own.
        bool addBos = engine.Tokenizer.Vocabulary.AddBos && !template.StartsWithBos(prompt);
        int[] ids = engine.Tokenizer.EncodeAtMost(prompt, addBos, parseSpecial: true, engine.MaxContext)
            ?? throw new ArgumentException($"the conversation is longer than the model's {engine.MaxContext}-token context");
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var handle = engine.Submit(new GenerationRequest
        {
            Id = id,
            PromptTokens = ids,
            MaxTokens = ChatRequestMapping.MaxTokens(ids.Length, options, engine),
            Sampling = ChatRequestMapping.Sampling(options),
            Stop = options?.StopSequences?.ToArray() ?? [],
        });
        return (handle, id);
    }

    private static ChatFinishReason Finish(FinishReason reason) => reason switch
    {
        FinishReason.Stop => ChatFinishReason.Stop,
        FinishReason.Length => ChatFinishReason.Length,
        _ => new ChatFinishReason("abort"), // vLLM's name for a request cut short, as the HTTP API says it
    };

    private static UsageDetails Usage(RequestOutcome outcome) => new()
    {
        InputTokenCount = outcome.PromptTokens,
        OutputTokenCount = outcome.CompletionTokens,
        TotalTokenCount = outcome.PromptTokens + outcome.CompletionTokens,
    };

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata))
            return _metadata ??= new ChatClientMetadata("tandem", null, service.ModelId);
        if (serviceType == typeof(TandemService)) return service;
        if (serviceType == typeof(IServingEngine)) return service.Engine;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>The runtime belongs to <see cref="TandemService"/> (the host stops it), not to the client.</summary>
    public void Dispose() { }
}
