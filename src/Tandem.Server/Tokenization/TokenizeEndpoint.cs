using Tandem.Engine.Chat;
using Microsoft.AspNetCore.Http;
using Tandem.Server.Chat;
using Tandem.Server.Hosting;
using Tandem.Server.Protocol;

namespace Tandem.Server.Tokenization;

/// <summary>
/// POST /tokenize, vLLM's shape: <c>{"prompt": text}</c> or <c>{"messages": [...]}</c> (rendered with the chat
/// template) → <c>{"count", "max_model_len", "tokens", "token_strs"}</c>. The ids are those a completion or chat
/// request with the same input would prefill, so a client can count and trim before it sends.
/// </summary>
internal static class TokenizeEndpoint
{
    public static Task HandleAsync(HttpContext context) => ApiHandler.RunAsync(context, async (ctx, api) =>
    {
        using var body = await JsonBody.ReadAsync(ctx, api.Options.MaxRequestBodyBytes);
        RequestFieldTable.Check(body.RootElement, RequestFieldTable.Tokenize);
        var f = new RequestFields(body.RootElement);
        OptionalModel(f, api.Options);
        var tokenizer = api.Engine.Tokenizer;
        bool addSpecial = f.Bool("add_special_tokens") ?? true;
        bool addGenerationPrompt = f.Bool("add_generation_prompt") ?? true;
        bool returnStrings = f.Bool("return_token_strs") ?? false;
        bool hasPrompt = f.Has("prompt"), hasMessages = f.Has("messages");
        if (hasPrompt == hasMessages)
            throw ApiException.Invalid(hasPrompt ? "messages" : "prompt", "Give either 'prompt' (text) or 'messages' (chat), not both and not neither.");
        int[] ids = hasPrompt
            ? tokenizer.Encode(f.String("prompt")!, addSpecial && tokenizer.Vocabulary.AddBos, parseSpecial: true)
            : api.Chat.Tokenize(api.Chat.Render(new ChatRenderRequest(ChatRequestParser.Messages(f)) { AddGenerationPrompt = addGenerationPrompt }), int.MaxValue, addSpecial)!;

        using var json = new PooledJson();
        var w = json.Writer;
        w.WriteStartObject();
        w.WriteNumber("count", ids.Length);
        w.WriteNumber("max_model_len", api.Engine.MaxContext);
        w.WriteStartArray("tokens");
        foreach (int id in ids) w.WriteNumberValue(id);
        w.WriteEndArray();
        if (returnStrings)
        {
            w.WriteStartArray("token_strs");
            foreach (int id in ids) w.WriteStringValue(tokenizer.TokenText(id));
            w.WriteEndArray();
        }
        else
        {
            w.WriteNull("token_strs");
        }
        w.WriteEndObject();
        ctx.Response.ContentType = "application/json";
        await json.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
    });

    /// <summary>vLLM's tokenizer routes take <c>model</c> optionally; when given it must name the served model.</summary>
    internal static void OptionalModel(RequestFields f, TandemApiOptions options)
    {
        if (f.String("model") is { } model && !string.Equals(model, options.ServedModelName, StringComparison.Ordinal))
            throw ApiException.ModelNotFound(model);
    }
}
