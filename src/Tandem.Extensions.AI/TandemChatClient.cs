using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Tandem.Engine.Chat.Tools;
using Tandem.Engine.Generation;
using Tandem.Serving;

namespace Tandem.Extensions.AI;

/// <summary>
/// <see cref="IChatClient"/> over Tandem's serving runtime in this process: the conversation is rendered with the
/// model's chat template (or the one chosen in <see cref="TandemOptions.ChatTemplate"/>), tokenized, and submitted to
/// the runtime as the OpenAI endpoint submits it — the same request gets the same text, without HTTP. Tools are offered
/// and their calls read as the endpoint does (<see cref="ToolCallPlan"/>), coming back as <see cref="FunctionCallContent"/>,
/// and a JSON <see cref="ChatOptions.ResponseFormat"/> constrains the reply as <c>response_format</c> does.
/// </summary>
public sealed class TandemChatClient(TandemService service) : IChatClient
{
    private ChatClientMetadata? _metadata;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (handle, id, calls) = Submit(messages, options);
        using var cancel = cancellationToken.Register(handle.Cancel);
        var text = new System.Text.StringBuilder();
        await foreach (var token in handle.Tokens.ReadAllAsync(CancellationToken.None))
            text.Append(token.Text);
        var outcome = await handle.Completion;
        cancellationToken.ThrowIfCancellationRequested();
        var message = new ChatMessage(ChatRole.Assistant, text.ToString()) { MessageId = id };
        if (calls is not null)
            message.Contents = [.. calls.Push(text.ToString()), .. calls.Finish()];
        return new ChatResponse(message)
        {
            ResponseId = id,
            ModelId = service.ModelId,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = Finish(outcome.FinishReason, calls),
            Usage = Usage(outcome),
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (handle, id, calls) = Submit(messages, options);
        using var cancel = cancellationToken.Register(handle.Cancel);
        try
        {
            var created = DateTimeOffset.UtcNow;
            await foreach (var token in handle.Tokens.ReadAllAsync(CancellationToken.None))
            {
                if (token.Text.Length == 0) continue; // held back: part of a character, or of a possible stop string
                if (calls is null)
                {
                    yield return Update(id, created, [new TextContent(token.Text)]);
                    continue;
                }
                // Text that may belong to a call is held back by the reader: no update until it is decided.
                var contents = calls.Push(token.Text);
                if (contents.Count > 0) yield return Update(id, created, contents);
            }
            var outcome = await handle.Completion;
            cancellationToken.ThrowIfCancellationRequested();
            var last = Update(id, created, calls?.Finish() ?? []);
            last.FinishReason = Finish(outcome.FinishReason, calls);
            last.Contents.Add(new UsageContent(Usage(outcome)));
            yield return last;
        }
        finally
        {
            handle.Cancel(); // a caller that stops reading early frees the request's KV (no-op once it finished)
        }
    }

    private ChatResponseUpdate Update(string id, DateTimeOffset created, IList<AIContent> contents) => new(ChatRole.Assistant, contents)
    {
        ResponseId = id,
        MessageId = id,
        ModelId = service.ModelId,
        CreatedAt = created,
    };

    /// <summary>
    /// Renders, tokenizes and submits the conversation as the OpenAI endpoint does, tools and response format included;
    /// the reader is the one that turns the reply's tool calls into <see cref="FunctionCallContent"/> (null without tools).
    /// </summary>
    private (RequestHandle Handle, string Id, ToolCallReader? Calls) Submit(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var engine = service.Engine;
        var template = service.ChatTemplate ?? throw new InvalidOperationException("Tandem's chat template is not chosen yet: the service has not started");
        var conversation = ChatRequestMapping.Messages(messages, options);
        var tools = ChatToolMapping.Declarations(options);
        bool offered = ChatToolMapping.Offered(options, tools);
        var structuredOutput = ChatResponseFormatMapping.Grammar(options);
        string prompt = template.Render(new Tandem.Engine.Chat.ChatRenderRequest(conversation) { Tools = offered ? tools : [] });
        ToolCallPlan? plan = null;
        if (offered)
        {
            // RequireAny / RequireSpecific are forced: the start of a call after the prompt, the call constrained.
            // With Auto a call is constrained where the reply opens one, unless a JSON response format constrains the reply.
            plan = ChatToolMapping.Plan(template.ToolCallFormat, tools, options!).Beside(structuredOutput)
                ?? throw new ArgumentException("ChatOptions.ResponseFormat cannot be JSON when ChatOptions.ToolMode requires a tool call: the reply is then the call, its arguments following the function's parameters", nameof(options));
            prompt += plan.ForcedPrefix;
            structuredOutput = plan.Grammar ?? structuredOutput;
        }
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
            StructuredOutput = structuredOutput,
            ToolCalls = plan?.Auto,
        });
        return (handle, id, plan is null ? null : new ToolCallReader(plan));
    }

    /// <summary>A reply that made calls and ended by itself finishes with ToolCalls, as OpenAI's do.</summary>
    private static ChatFinishReason Finish(FinishReason reason, ToolCallReader? calls) =>
        calls is { MadeCalls: true } && reason == FinishReason.Stop ? ChatFinishReason.ToolCalls : Finish(reason);

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
