using System.CommandLine;
using System.Globalization;
using Tandem.Engine.Generation;
using Tandem.Engine.Model;
using Tandem.Engine.Sampling;
using Tandem.Engine.Structured;
using Tandem.Engine.Tokenization;

namespace Tandem.Cli.Commands;

/// <summary>
/// <c>tandem generate</c>: streams a continuation of a prompt to standard output as it is produced and
/// ends with one line of prefill/decode speed on standard error (like llama.cpp's llama-cli / llama-simple).
/// </summary>
public static class GenerateCommand
{
    public static Command Create(CliConsole console)
    {
        var model = ModelArgument.Create(bundledDefault: true);
        var prompt = new Option<string>("--prompt", "-p") { Description = "Prompt text (not echoed)", Required = true };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Tokens to generate", DefaultValueFactory = _ => 128 };
        var temperature = new Option<float>("--temperature", "--temp") { Description = "Sampling temperature; 0 = greedy", DefaultValueFactory = _ => 0.8f };
        var topK = new Option<int>("--top-k") { Description = "Keep the k most likely tokens; 0 = off", DefaultValueFactory = _ => 40 };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass; 1 = off", DefaultValueFactory = _ => 0.95f };
        var minP = new Option<float>("--min-p") { Description = "Drop tokens below this share of the top token's probability; 0 = off", DefaultValueFactory = _ => 0.05f };
        var repeatPenalty = new Option<float>("--repeat-penalty") { Description = "Repetition penalty (llama.cpp style); 1 = off", DefaultValueFactory = _ => 1.0f };
        var repeatLastN = new Option<int>("--repeat-last-n") { Description = "Tokens the penalties look back over; -1 = all", DefaultValueFactory = _ => 64 };
        var presence = new Option<float>("--presence-penalty") { Description = "OpenAI presence penalty", DefaultValueFactory = _ => 0f };
        var frequency = new Option<float>("--frequency-penalty") { Description = "OpenAI frequency penalty", DefaultValueFactory = _ => 0f };
        var seed = new Option<ulong?>("--seed", "-s") { Description = "Random seed (same seed, same output); random when omitted" };
        var stop = new Option<string[]>("--stop") { Description = "Stop string (repeatable)", AllowMultipleArgumentsPerToken = false };
        var ignoreEos = new Option<bool>("--ignore-eos") { Description = "Keep generating past end-of-sequence (for timing)" };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var context = new Option<int?>("--ctx-size", "-c") { Description = "Context length (default: the model's, at most 4096)" };
        var weights = WeightsArgument.Create();
        var noBos = new Option<bool>("--no-bos") { Description = "Do not add BOS even where the model asks for it" };
        var json = new Option<bool>("--json") { Description = "Structured output: the text is a JSON object (enforced while sampling)" };
        var jsonSchema = new Option<string?>("--json-schema")
        {
            Description = "Structured output: the text is JSON valid against this JSON Schema (a file, or the schema's text); " +
                "supported: type, properties, required, additionalProperties, items, enum, const",
        };

        var command = new Command("generate", "Generate a continuation of a prompt, streaming it to standard output.")
        {
            model, prompt, maxTokens, temperature, topK, topP, minP, repeatPenalty, repeatLastN, presence, frequency,
            seed, stop, ignoreEos, threads, context, noBos, json, jsonSchema, weights,
        };
        command.SetAction((parse, _) =>
        {
            int n = parse.GetValue(maxTokens);
            if (n < 0) throw new CliUsageException($"--max-tokens must be 0 or more, got {n}");
            int nThreads = parse.GetValue(threads);
            if (nThreads < 1 || nThreads > 1024) throw new CliUsageException($"--threads must be between 1 and 1024, got {nThreads}");

            SamplingParams sampling;
            try
            {
                sampling = new SamplingParams
                {
                    Temperature = parse.GetValue(temperature),
                    TopK = parse.GetValue(topK),
                    TopP = parse.GetValue(topP),
                    MinP = parse.GetValue(minP),
                    RepetitionPenalty = parse.GetValue(repeatPenalty),
                    PenaltyLastN = parse.GetValue(repeatLastN),
                    PresencePenalty = parse.GetValue(presence),
                    FrequencyPenalty = parse.GetValue(frequency),
                    Seed = parse.GetValue(seed),
                };
            }
            catch (ArgumentException e)
            {
                throw new CliUsageException(e.Message);
            }

            var structured = StructuredOutput(parse.GetValue(json), parse.GetValue(jsonSchema));

            using var lm = WeightsArgument.Load(ModelArgument.Resolve(parse.GetValue(model), console), parse.GetValue(weights), out string weightsLine);
            console.Error.WriteLine(weightsLine);
            var tokenizer = Tokenizer.FromGguf(lm.File);
            int ctx = parse.GetValue(context) ?? Math.Min(lm.Config.ContextLength, 4096);
            if (ctx < 2) throw new CliUsageException($"--ctx-size must be at least 2, got {ctx}");
            int[] ids = tokenizer.Encode(parse.GetValue(prompt)!, addBos: !parse.GetValue(noBos));
            if (ids.Length == 0) throw new CliUsageException("the prompt is empty (no tokens) and the model adds no BOS: give a prompt");
            if (ids.Length >= ctx)
                throw new CliUsageException($"the prompt has {ids.Length} tokens, which does not fit a context of {ctx} (raise --ctx-size)");

            using var transformer = new Transformer(lm, nThreads, maxBatch: Math.Min(512, ctx), maxContext: ctx);
            // As llama-cli does before it starts the clock: the printed speeds are the engine's, not the JIT's.
            transformer.WarmUp();
            var generator = new TextGenerator(transformer, tokenizer);
            var options = new GenerationOptions
            {
                MaxTokens = Math.Min(n, ctx - ids.Length),
                Sampling = sampling,
                Stop = parse.GetValue(stop) ?? [],
                IgnoreEos = parse.GetValue(ignoreEos),
                StructuredOutput = structured,
            };

            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
            Console.CancelKeyPress += onCancel;
            try
            {
                var result = generator.Generate(ids, options, t => console.Out.Write(t.Text), cts.Token);
                console.Out.WriteLine();
                console.Out.Flush();
                console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"prefill: {result.PromptTokens} tokens in {result.PrefillTime.TotalSeconds:F3} s ({result.PrefillTokensPerSecond:F1} tok/s) | " +
                    $"decode: {result.Tokens.Count} tokens in {result.DecodeTime.TotalSeconds:F3} s ({result.DecodeTokensPerSecond:F1} tok/s) | " +
                    $"threads {nThreads} | finish: {result.FinishReason.ToString().ToLowerInvariant()}"));
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>The grammar of --json / --json-schema (a file path or the schema itself), or null for free text.</summary>
    private static JsonGrammar? StructuredOutput(bool json, string? schema)
    {
        if (schema == null) return json ? JsonGrammar.JsonObject : null;
        if (json) throw new CliUsageException("give --json or --json-schema, not both");
        try
        {
            return JsonGrammar.FromSchema(File.Exists(schema) ? File.ReadAllText(schema) : schema);
        }
        catch (JsonSchemaException e)
        {
            throw new CliUsageException($"--json-schema: {e.Message}");
        }
    }
}
