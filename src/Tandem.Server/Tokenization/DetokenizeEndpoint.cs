using Microsoft.AspNetCore.Http;
using Tandem.Server.Hosting;
using Tandem.Server.Protocol;

namespace Tandem.Server.Tokenization;

/// <summary>
/// POST /detokenize, vLLM's shape: <c>{"tokens": [ids]}</c> → <c>{"prompt": text}</c>: /tokenize's ids give back the
/// text (<see cref="PromptText"/>); control tokens show as nothing, as in generated text.
/// </summary>
internal static class DetokenizeEndpoint
{
    public static Task HandleAsync(HttpContext context) => ApiHandler.RunAsync(context, async (ctx, api) =>
    {
        using var body = await JsonBody.ReadAsync(ctx, api.Options.MaxRequestBodyBytes);
        RequestFieldTable.Check(body.RootElement, RequestFieldTable.Detokenize);
        var f = new RequestFields(body.RootElement);
        TokenizeEndpoint.OptionalModel(f, api.Options);
        if (!f.Has("tokens"))
            throw ApiException.Invalid("tokens", "'tokens' is required.");
        var ids = f.TokenIds("tokens", api.Engine.Tokenizer.VocabSize);

        using var json = new PooledJson();
        var w = json.Writer;
        w.WriteStartObject();
        w.WriteString("prompt", PromptText.Decode(api.Engine.Tokenizer, ids));
        w.WriteEndObject();
        ctx.Response.ContentType = "application/json";
        await json.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
    });
}
