using System.Text.Json;
using static Tandem.Server.Protocol.FieldStatus;

namespace Tandem.Server.Protocol;

/// <summary>
/// Every top-level request field each endpoint knows, with what it does: the one list behind the server README's
/// field table (a test holds the two together, and holds <see cref="FieldStatus.Supported"/> against the fields the
/// parsers read). <see cref="Check"/> runs before a body is parsed: a refused field (beyond a harmless value) or one
/// no table lists gets 400 naming it, as OpenAI answers an unrecognized argument, so nothing is accepted and dropped.
/// </summary>
public static class RequestFieldTable
{
    public const string Completions = "/v1/completions";
    public const string Chat = "/v1/chat/completions";
    public const string Tokenize = "/tokenize";
    public const string Detokenize = "/detokenize";

    private static RequestField S(string name, string note) => new(name, Supported, note);
    private static RequestField I(string name, string note) => new(name, Ignored, note);
    private static RequestField R(string name, string note, bool? harmlessWhen = null) => new(name, Refused, note) { HarmlessWhen = harmlessWhen };

    /// <summary>Sampling, stopping and output fields both generation endpoints share.</summary>
    private static readonly RequestField[] Generation =
    [
        S("model", "required; must be the served name (404 `model_not_found` otherwise)"),
        S("max_tokens", "completion budget"),
        S("temperature", "default 1; 0 = greedy"),
        S("top_p", "nucleus sampling"),
        S("top_k", "-1 or 0 = off"),
        S("min_p", "min-p sampling"),
        S("seed", "choice i uses seed + i"),
        S("stop", "string or array of strings"),
        S("stop_token_ids", "vLLM's: token ids that end generation (the token counts as generated; `stop_reason` is its id)"),
        S("include_stop_str_in_output", "vLLM's: keep the stop string (or stop token's text) at the end of the text"),
        S("presence_penalty", "OpenAI's, -2 to 2"),
        S("frequency_penalty", "OpenAI's, -2 to 2"),
        S("repetition_penalty", "llama.cpp's / vLLM's"),
        S("repeat_last_n", "llama.cpp's penalty window, default 64"),
        S("n", "choices per prompt, 1 to 128"),
        S("stream", "server-sent events"),
        S("stream_options", "`include_usage`"),
        S("ignore_eos", "keep going past end-of-sequence"),
        S("logit_bias", "token id → bias in [-100, 100], added to the logit before sampling"),
        S("return_timeline", "Tandem's: each request's lifetime events"),
        S("response_format", "structured output: `{\"type\":\"json_object\"}` or `{\"type\":\"json_schema\",\"json_schema\":{…}}` enforced while sampling; `{\"type\":\"text\"}` is plain text"),
        S("guided_json", "vLLM's name for a JSON-schema constraint: the same structured output"),
        R("guided_regex", "regex-constrained decoding is not built"),
        R("guided_grammar", "grammar-constrained decoding is not built"),
        R("guided_choice", "choice-constrained decoding is not built"),
        R("grammar", "llama.cpp's GBNF grammars are not built"),
        R("json_schema", "llama.cpp's name for a schema: use `response_format` (structured output)"),
        R("structural_tag", "vLLM's structural tags are not built"),
        R("min_tokens", "no minimum length is enforced"),
        R("use_beam_search", "no beam search"),
        R("prompt_logprobs", "prompt log-probabilities are not computed"),
        R("allowed_token_ids", "not built; `logit_bias` can ban tokens"),
        R("bad_words", "not built; `logit_bias` can ban tokens"),
        R("truncate_prompt_tokens", "prompts are never truncated: a long one gets 400 `context_length_exceeded`"),
        R("skip_special_tokens", "special tokens are always left out of the text", harmlessWhen: true),
        R("spaces_between_special_tokens", "text is the tokens' pieces as they are", harmlessWhen: true),
        R("return_tokens_as_token_ids", "log-probability tokens are their text"),
        R("priority", "requests are served first come, first served"),
        I("user", "an end-user id for abuse monitoring: nothing is logged per user"),
        I("request_id", "vLLM's: the server makes its own ids"),
        I("cache_prompt", "llama.cpp's hint: prefix caching is automatic (`--no-prefix-caching` turns it off)"),
    ];

    private static readonly RequestField[] CompletionsOnly =
    [
        S("prompt", "string, array of strings, token ids, or arrays of token ids"),
        S("logprobs", "0 to 20 alternatives; not with `echo`"),
        S("echo", "the prompt's text before the completion (not with `logprobs`)"),
        S("best_of", "accepted when equal to `n`: candidates are not ranked"),
        R("suffix", "insertion (fill-in-the-middle) is not supported"),
        R("add_special_tokens", "prompts get BOS as the vocabulary asks, special tokens parsed", harmlessWhen: true),
    ];

    private static readonly RequestField[] ChatOnly =
    [
        S("messages", "roles system, developer (read as system), user, assistant, tool; text content"),
        S("max_completion_tokens", "the current name of `max_tokens`; wins when both are given"),
        S("logprobs", "true: log-probabilities of the chosen tokens"),
        S("top_logprobs", "0 to 20 alternatives (needs `logprobs`)"),
        S("tools", "functions the model may call, rendered through the chat template; calls come back as `tool_calls`"),
        R("functions", "the deprecated function calling: use `tools`"),
        R("function_call", "function calling is not supported"),
        R("audio", "audio output is not supported"),
        R("modalities", "text only"),
        R("prediction", "predicted outputs are not supported"),
        R("web_search_options", "no web search"),
        R("reasoning_effort", "no reasoning controls"),
        R("chat_template", "per-request templates are not taken: start the server with `--chat-template`"),
        S("chat_template_kwargs", "extra variables for the chat template (e.g. `enable_thinking`); not `messages`, `tools`, `add_generation_prompt`, `bos_token`, `eos_token`"),
        R("add_generation_prompt", "the assistant's turn is always opened", harmlessWhen: true),
        R("continue_final_message", "the last message is never continued"),
        R("echo", "vLLM's chat echo is not supported"),
        R("documents", "no retrieval documents"),
        R("add_special_tokens", "BOS is added as the vocabulary and template ask"),
        S("tool_choice", "`auto`, `none`, `required` or a named function"),
        S("parallel_tool_calls", "false: at most one call per reply"),
        I("store", "nothing is stored"),
        I("metadata", "nothing is stored to tag"),
        I("service_tier", "one tier"),
    ];

    private static readonly RequestField[] TokenizeFields =
    [
        S("model", "optional; when given, must be the served name"),
        S("prompt", "text to tokenize (this or `messages`)"),
        S("messages", "chat messages, rendered with the server's chat template, then tokenized"),
        S("add_special_tokens", "BOS as the vocabulary asks (default true for `prompt`, false for `messages`, as vLLM)"),
        S("add_generation_prompt", "`messages`: open the assistant's turn (default true)"),
        S("return_token_strs", "also return each token's text"),
        R("continue_final_message", "the last message is never continued"),
        R("chat_template", "per-request templates are not taken"),
        R("chat_template_kwargs", "per-request template arguments are not taken"),
        R("tools", "tool calling is not supported"),
    ];

    private static readonly RequestField[] DetokenizeFields =
    [
        S("model", "optional; when given, must be the served name"),
        S("tokens", "token ids to turn back into text"),
    ];

    /// <summary>Each endpoint's fields by name.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyDictionary<string, RequestField>> Endpoints { get; } =
        new Dictionary<string, IReadOnlyDictionary<string, RequestField>>
        {
            [Completions] = Index([.. Generation, .. CompletionsOnly]),
            [Chat] = Index([.. Generation, .. ChatOnly]),
            [Tokenize] = Index(TokenizeFields),
            [Detokenize] = Index(DetokenizeFields),
        };

    private static IReadOnlyDictionary<string, RequestField> Index(RequestField[] fields) =>
        fields.ToDictionary(f => f.Name, StringComparer.Ordinal);

    /// <summary>
    /// Refuses (400, the field as <c>param</c>) a field no table lists, and a refused field whose value asks for
    /// something the server does not do. Nulls count as absent, as everywhere in the API.
    /// </summary>
    public static void Check(JsonElement body, string endpoint)
    {
        if (body.ValueKind != JsonValueKind.Object)
            return; // the parser says what is wrong with it
        var table = Endpoints[endpoint];
        foreach (var property in body.EnumerateObject())
        {
            if (!table.TryGetValue(property.Name, out var field))
            {
                if (property.Value.ValueKind == JsonValueKind.Null) continue;
                throw new ApiException(Microsoft.AspNetCore.Http.StatusCodes.Status400BadRequest,
                    $"Unrecognized request argument supplied: '{property.Name}'. The fields {endpoint} takes are listed in the server's README.",
                    property.Name, "unknown_parameter");
            }
            if (field.Status == Refused && !field.IsHarmless(property.Value))
                throw ApiException.Unsupported(property.Name, $"'{property.Name}' is not supported: {field.Note}.");
        }
    }
}
