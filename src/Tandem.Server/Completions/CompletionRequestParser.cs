using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Tandem.Engine.Sampling;
using Tandem.Server.Generation;
using Tandem.Server.Protocol;
using Tandem.Server.Tokenization;
using Tandem.Serving;

namespace Tandem.Server.Completions;

/// <summary>Validates a /v1/completions body into a <see cref="GenerationPlan"/> (its fields: <see cref="RequestFieldTable"/>).</summary>
internal static class CompletionRequestParser
{
    /// <summary>OpenAI's default completion length for the legacy endpoint.</summary>
    private const int DefaultMaxTokens = 16;

    public static GenerationPlan Parse(JsonElement body, HttpRequest http, IServingEngine engine, TandemApiOptions options)
    {
        RequestFieldTable.Check(body, RequestFieldTable.Completions);
        var f = new RequestFields(body);
        string model = GenerationFields.Model(f, options);
        bool echo = f.Bool("echo") ?? false;
        var texts = echo ? new List<string>() : null;
        var prompts = Prompts(f, engine, texts);

        int n = GenerationFields.N(f, options);
        if (f.Int("best_of", min: 1) is int bestOf && bestOf != n)
            throw ApiException.Unsupported("best_of", $"'best_of' must equal 'n' ({n}): Tandem does not rank candidate completions.");
        if ((long)n * prompts.Count > options.MaxChoices)
            throw ApiException.Invalid("n", $"'n' times the number of prompts must be at most {options.MaxChoices}; got {n} × {prompts.Count}.");
        var structuredOutput = StructuredOutputFields.Parse(f);

        int? logProbs = f.Int("logprobs", min: 0, max: SamplingParams.MaxLogProbs);
        if (echo && logProbs is not null)
            throw ApiException.Unsupported("echo", "'echo' together with 'logprobs' needs the prompt's log-probabilities, which are not computed: drop one of them.");
        int? maxTokens = f.Int("max_tokens", min: 1);
        var budgets = new int[prompts.Count];
        for (int p = 0; p < prompts.Count; p++)
            budgets[p] = GenerationFields.MaxTokens(prompts[p].Length, maxTokens, DefaultMaxTokens, engine, "prompt");

        bool stream = GenerationFields.Stream(f, out bool includeUsage);
        return new GenerationPlan
        {
            Model = model,
            Prompts = prompts,
            MaxTokens = budgets,
            N = n,
            Sampling = GenerationFields.Sampling(f, logProbs ?? 0, engine.Tokenizer.VocabSize),
            Stop = f.StringOrStrings("stop"),
            StopTokenIds = f.TokenIds("stop_token_ids", engine.Tokenizer.VocabSize),
            IncludeStopStringInOutput = f.Bool("include_stop_str_in_output") ?? false,
            IgnoreEos = f.Bool("ignore_eos") ?? false,
            EchoTexts = echo ? texts : null,
            StructuredOutput = structuredOutput,
            LogProbs = logProbs is not null,
            Stream = stream,
            IncludeUsage = includeUsage,
            ReturnTimeline = GenerationFields.ReturnTimeline(f, http),
        };
    }

    /// <summary>
    /// <c>prompt</c> in any of OpenAI's four forms: a string, an array of strings, an array of token ids, or an
    /// array of token-id arrays. Text is tokenized as llama-server does: BOS as the vocabulary asks, special tokens parsed.
    /// <paramref name="texts"/>, when given, gets each prompt's text for <c>echo</c>: a text prompt as sent, token ids decoded.
    /// </summary>
    private static List<int[]> Prompts(RequestFields f, IServingEngine engine, List<string>? texts)
    {
        if (!f.TryGet("prompt", out var prompt))
            throw ApiException.Invalid("prompt", "'prompt' is required.");
        var tokenizer = engine.Tokenizer;
        bool addBos = tokenizer.Vocabulary.AddBos;
        int[] Text(JsonElement s)
        {
            // A prompt whose length alone proves it cannot fit is refused before its string is even decoded.
            if (tokenizer.MinimumTokens(JsonStringBytes.DecodedUtf8Length(s), addBos) > engine.MaxContext)
                throw GenerationFields.PromptTooLong(engine, "prompt");
            string text = s.GetString()!;
            texts?.Add(text);
            return tokenizer.EncodeAtMost(text, addBos, parseSpecial: true, engine.MaxContext)
                ?? throw GenerationFields.PromptTooLong(engine, "prompt");
        }
        int[] Ids(JsonElement array)
        {
            var ids = TokenIds(array, engine);
            texts?.Add(PromptText.Decode(tokenizer, ids));
            return ids;
        }

        var list = new List<int[]>();
        if (prompt.ValueKind == JsonValueKind.String)
        {
            list.Add(Text(prompt));
        }
        else if (prompt.ValueKind == JsonValueKind.Array && prompt.GetArrayLength() > 0)
        {
            var first = prompt[0].ValueKind;
            if (first == JsonValueKind.Number)
            {
                list.Add(Ids(prompt));
            }
            else
            {
                foreach (var item in prompt.EnumerateArray())
                {
                    if (item.ValueKind != first)
                        throw Malformed();
                    list.Add(item.ValueKind switch
                    {
                        JsonValueKind.String => Text(item),
                        JsonValueKind.Array => Ids(item),
                        _ => throw Malformed(),
                    });
                }
            }
        }
        else
        {
            throw prompt.ValueKind == JsonValueKind.Array
                ? ApiException.Invalid("prompt", "'prompt' must not be empty.")
                : Malformed();
        }

        foreach (var ids in list)
        {
            if (ids.Length == 0)
                throw ApiException.Invalid("prompt", "The prompt is empty (no tokens, and the model adds no BOS).");
        }
        return list;

        static ApiException Malformed() => ApiException.Invalid("prompt",
            "'prompt' must be a string, an array of strings, an array of token ids, or an array of token-id arrays.");
    }

    private static int[] TokenIds(JsonElement array, IServingEngine engine)
    {
        int vocab = engine.Tokenizer.VocabSize;
        var ids = new int[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int id))
                throw ApiException.Invalid("prompt", "Token-id prompts must hold integers only.");
            if (id < 0 || id >= vocab)
                throw ApiException.Invalid("prompt", $"Token id {id} is outside the vocabulary (0 to {vocab - 1}).");
            ids[i++] = id;
        }
        return ids;
    }
}
