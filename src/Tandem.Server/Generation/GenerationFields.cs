using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Tandem.Engine.Sampling;
using Tandem.Server.Protocol;
using Tandem.Serving;

namespace Tandem.Server.Generation;

/// <summary>
/// The request fields completions and chat completions share: model, n, sampling, stop, streaming, extensions.
/// Ranges follow the OpenAI API where it sets one, vLLM's where it extends it.
/// </summary>
internal static class GenerationFields
{
    public const string TimelineHeader = "X-Tandem-Timeline";

    /// <summary>Checks <c>model</c> names the served model: 404 model_not_found otherwise, as vLLM and OpenAI answer.</summary>
    public static string Model(RequestFields f, TandemApiOptions options)
    {
        string model = f.String("model") ?? throw ApiException.Invalid("model", "'model' is required.");
        if (!string.Equals(model, options.ServedModelName, StringComparison.Ordinal))
            throw ApiException.ModelNotFound(model);
        return model;
    }

    public static SamplingParams Sampling(RequestFields f, int logProbs, int vocab)
    {
        int topK = f.Int("top_k", min: -1) ?? 0;
        double repetition = f.Number("repetition_penalty", min: 0) ?? 1;
        if (repetition <= 0)
            throw ApiException.Invalid("repetition_penalty", "'repetition_penalty' must be greater than 0.");
        long? seed = f.Integer("seed");
        try
        {
            return new SamplingParams
            {
                Temperature = (float)(f.Number("temperature", min: 0) ?? 1),
                TopP = (float)(f.Number("top_p", min: 0, max: 1) ?? 1),
                TopK = Math.Max(0, topK), // vLLM's -1 and OpenAI's absence both mean "off"
                MinP = (float)(f.Number("min_p", min: 0, max: 1) ?? 0),
                PresencePenalty = (float)(f.Number("presence_penalty", min: -2, max: 2) ?? 0),
                FrequencyPenalty = (float)(f.Number("frequency_penalty", min: -2, max: 2) ?? 0),
                RepetitionPenalty = (float)repetition,
                PenaltyLastN = f.Int("repeat_last_n", min: -1) ?? SamplingParams.Default.PenaltyLastN,
                Seed = seed is long s ? unchecked((ulong)s) : null,
                LogProbs = logProbs,
                LogitBias = LogitBias(f, vocab),
            };
        }
        catch (ArgumentException e)
        {
            throw ApiException.Invalid(e is ArgumentOutOfRangeException r ? ToSnakeCase(r.ParamName) : null, e.Message);
        }
    }

    public static int N(RequestFields f, TandemApiOptions options) => f.Int("n", min: 1, max: options.MaxChoices) ?? 1;

    public static bool Stream(RequestFields f, out bool includeUsage)
    {
        bool stream = f.Bool("stream") ?? false;
        includeUsage = false;
        if (f.TryGet("stream_options", out var so))
        {
            if (!stream)
                throw ApiException.Invalid("stream_options", "'stream_options' is only allowed when 'stream' is true.");
            if (so.ValueKind != JsonValueKind.Object)
                throw ApiException.Invalid("stream_options", "'stream_options' must be an object.");
            includeUsage = new RequestFields(so).Bool("include_usage") ?? false;
        }
        return stream;
    }

    public static bool ReturnTimeline(RequestFields f, HttpRequest request) =>
        (f.Bool("return_timeline") ?? false) ||
        request.Headers[TimelineHeader] is { Count: > 0 } h && (h[0] is "1" || string.Equals(h[0], "true", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// <c>logit_bias</c>: an object from token ids (as strings, the JSON way) to a bias in [-100, 100], OpenAI's range.
    /// </summary>
    private static Dictionary<int, float>? LogitBias(RequestFields f, int vocab)
    {
        if (!f.TryGet("logit_bias", out var bias)) return null;
        if (bias.ValueKind != JsonValueKind.Object)
            throw ApiException.Invalid("logit_bias", "'logit_bias' must be an object mapping token ids to numbers.");
        var map = new Dictionary<int, float>();
        foreach (var entry in bias.EnumerateObject())
        {
            if (!int.TryParse(entry.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int id) || id >= vocab)
                throw ApiException.Invalid("logit_bias", $"'logit_bias' keys must be token ids (0 to {vocab - 1}); got '{entry.Name}'.");
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetDouble(out double value) || value is < -100 or > 100)
                throw ApiException.Invalid("logit_bias", $"'logit_bias' values must be numbers between -100 and 100; token {id} has {entry.Value.GetRawText()}.");
            map[id] = (float)value;
        }
        return map;
    }

    /// <summary>
    /// The completion budget of one prompt. An explicit max_tokens that does not fit the context is refused (as
    /// vLLM does; one that fits the context but not the KV pool is refused by the runtime, kv_capacity_exceeded);
    /// the default is cut to what fits both: the context, and the KV one sequence can hold on the smallest pool of
    /// the request's path, which can be far less than the context (256 MiB of KV holds ~2,048 tokens of a
    /// Llama-3-8B shape against its 8,192 context).
    /// </summary>
    public static int MaxTokens(int promptTokens, int? requested, int? defaultTokens, IServingEngine engine, string promptParam)
    {
        int ctx = engine.MaxContext;
        if (promptTokens >= ctx)
            throw ApiException.ContextLengthExceeded(promptParam,
                $"This model's maximum context length is {ctx} tokens. However, your request has {promptTokens} input tokens, " +
                "which leaves no room for a completion. Please reduce the length of the input.");
        if (requested is int m)
        {
            if (promptTokens + m > ctx)
                throw ApiException.ContextLengthExceeded(promptParam,
                    $"This model's maximum context length is {ctx} tokens. However, you requested {promptTokens + m} tokens " +
                    $"({promptTokens} in the input, {m} for the completion). Please reduce the length of the input or of the completion.");
            return m;
        }
        int kv = engine.KvCapacityTokens;
        if (promptTokens >= kv)
            throw new ApiException(StatusCodes.Status400BadRequest,
                $"The server's KV cache holds at most {kv} tokens for one request, and your request has {promptTokens} input tokens, " +
                "which leaves no room for a completion. Please reduce the length of the input.", promptParam, "kv_capacity_exceeded");
        return Math.Min(defaultTokens ?? int.MaxValue, Math.Min(ctx, kv) - promptTokens);
    }

    /// <summary>A prompt found to be longer than the context without counting all its tokens (tokenizing stopped there).</summary>
    public static ApiException PromptTooLong(IServingEngine engine, string promptParam) =>
        ApiException.ContextLengthExceeded(promptParam,
            $"This model's maximum context length is {engine.MaxContext} tokens. However, your request has more than {engine.MaxContext} input tokens. " +
            "Please reduce the length of the input.");

    private static string? ToSnakeCase(string? name) => name switch
    {
        null => null,
        nameof(SamplingParams.TopK) => "top_k",
        nameof(SamplingParams.TopP) => "top_p",
        nameof(SamplingParams.MinP) => "min_p",
        nameof(SamplingParams.PresencePenalty) => "presence_penalty",
        nameof(SamplingParams.FrequencyPenalty) => "frequency_penalty",
        nameof(SamplingParams.RepetitionPenalty) => "repetition_penalty",
        nameof(SamplingParams.PenaltyLastN) => "repeat_last_n",
        nameof(SamplingParams.LogProbs) => "logprobs",
        nameof(SamplingParams.Temperature) => "temperature",
        _ => name,
    };
}
