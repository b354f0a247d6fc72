#:project ../../src/Tandem.Serving/Tandem.Serving.csproj
#:property PublishAot=false
// Decode throughput with and without structured output (docs/experiments/structured-output.md):
//
//   dotnet run -c Release bench/structured-output/throughput.cs -- MODEL.gguf OUT.json [BATCHES=1,16] [SECONDS=20] [MODE=disaggregated]
//
// For each batch size B, keeps B requests in flight (closed loop: a request that ends is replaced at once) for
// SECONDS, in each of three conditions: free text, response_format json_object, and a JSON Schema (an array of
// objects with a string, an integer and an enum array). Prompts are 16 random token ids; up to 128 output tokens,
// sampled at temperature 1 with a seed per request, ending at end of sequence as clients see it (a constrained
// output ends once its JSON is complete, so it turns requests over faster: tokens/s then includes more prefills). The
// decode rate, B / TPOT with TPOT from each request's first to last token, leaves request turnover out. Each condition first runs a 5-second warm-up (not recorded): it also fills
// the grammar's mask cache, as a server that has seen a schema before has it. Reports output tokens/s, requests,
// and the load average before and after each run; first, the cost of one token mask inside a string (the state
// that admits the most tokens) computed by the trie walk, taken from the cache, and for json_object at a whole
// state never seen before (deeper nesting) whose local state is cached.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Tandem.Engine.Model;
using Tandem.Engine.Sampling;
using Tandem.Engine.Structured;
using Tandem.Engine.Tokenization;
using Tandem.Serving;

string modelPath = args[0];
string outPath = args[1];
int[] batches = (args.Length > 2 ? args[2] : "1,16").Split(',').Select(int.Parse).ToArray();
double seconds = args.Length > 3 ? double.Parse(args[3], CultureInfo.InvariantCulture) : 20;
var mode = Enum.Parse<ServingMode>(args.Length > 4 ? args[4] : "disaggregated", ignoreCase: true);
const int PromptTokens = 16, MaxTokens = 128;
const string Schema = """
    {"type":"array","items":{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},
     "tags":{"type":"array","items":{"enum":["red","green","blue"]}}},"required":["name","age","tags"],"additionalProperties":false}}
    """;
var conditions = new (string Name, JsonGrammar? Grammar)[] { ("free", null), ("json_object", JsonGrammar.JsonObject), ("json_schema", JsonGrammar.FromSchema(Schema)) };

using var model = LanguageModel.Load(modelPath);
Console.WriteLine($"{modelPath}: vocabulary {model.Config.VocabSize}, mode {mode}, {Environment.ProcessorCount} cores");
await using var engine = ServingRuntime.Start(new ServingOptions { Model = model, Mode = mode, OnWarning = _ => { } });
var rows = new List<Dictionary<string, object>>();
long requestIds = 0;

// One mask inside a string value: a fresh grammar (its own schema text) walks the trie; the second call hits the cache.
// Then the case that kept json_object slow: free JSON reaching a whole automaton state never seen before (a string
// one level deeper each time) whose local state (inside a string) is cached.
var maskCost = new Dictionary<string, object>();
{
    var tokenizer = Tokenizer.FromGguf(model.File);
    var logits = new float[model.Config.VocabSize];
    var walks = new List<double>();
    var hits = new List<double>();
    var newStates = new List<double>();
    JsonConstraint Start(JsonGrammar grammar, string prefix)
    {
        var constraint = new JsonConstraint(grammar, tokenizer.Vocabulary);
        foreach (int t in tokenizer.Encode(prefix, addBos: false))
            if (!constraint.TryAccept(t)) throw new InvalidOperationException($"the prefix {prefix} does not tokenize into allowed tokens");
        return constraint;
    }
    Start(JsonGrammar.JsonObject, "{\"a\": \"").MaskLogits(logits); // the local state inside a string, cached once
    for (int r = 0; r < 5; r++)
    {
        var constraint = Start(JsonGrammar.FromSchema(Schema + new string(' ', r + 1)), "[{\"name\": \"");
        var sw = Stopwatch.StartNew();
        constraint.MaskLogits(logits);
        walks.Add(sw.Elapsed.TotalMicroseconds);
        sw.Restart();
        constraint.MaskLogits(logits);
        hits.Add(sw.Elapsed.TotalMicroseconds);
        var deeper = Start(JsonGrammar.JsonObject, string.Concat(Enumerable.Repeat("{\"k\": [", r + 2)) + "\"");
        sw.Restart();
        deeper.MaskLogits(logits);
        newStates.Add(sw.Elapsed.TotalMicroseconds);
    }
    static double Median(List<double> xs) => Math.Round(xs.Order().ElementAt(xs.Count / 2), 1);
    int allowed = logits.Count(float.IsFinite);
    maskCost["allowed_tokens_in_string"] = allowed;
    maskCost["walk_us_median"] = Median(walks);
    maskCost["cached_us_median"] = Median(hits);
    maskCost["json_object_new_state_us_median"] = Median(newStates);
    Console.WriteLine($"mask in a string: {allowed} of {logits.Length} tokens allowed; trie walk {maskCost["walk_us_median"]} us, cached {maskCost["cached_us_median"]} us; " +
        $"json_object, a new whole state (one level deeper) in a cached local state: {maskCost["json_object_new_state_us_median"]} us (medians of 5)");
}

static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

async Task<(long Tokens, int Requests, int Stopped, double Elapsed, double TpotMs)> RunAsync(int batch, JsonGrammar? grammar, double duration)
{
    var random = new Random(7);
    long tokens = 0;
    int requests = 0, stopped = 0;
    double decodeSeconds = 0; // first to last token of every request: decode time alone, without request turnover
    long decodeTokens = 0;
    var clock = Stopwatch.StartNew();
    async Task Client(int c)
    {
        while (clock.Elapsed.TotalSeconds < duration)
        {
            long id = Interlocked.Increment(ref requestIds);
            int[] prompt;
            lock (random) prompt = Enumerable.Range(0, PromptTokens).Select(_ => random.Next(3, model.Config.VocabSize)).ToArray();
            var handle = engine.Submit(new GenerationRequest
            {
                Id = $"r{id}", PromptTokens = prompt, MaxTokens = MaxTokens,
                Sampling = new SamplingParams { Temperature = 1f, Seed = (ulong)id }, StructuredOutput = grammar,
            });
            await foreach (var t in handle.Tokens.ReadAllAsync())
                if (t.TokenId >= 0) Interlocked.Increment(ref tokens);
            var outcome = await handle.Completion;
            var times = outcome.Timeline.TokenTimes;
            lock (random)
            {
                if (times.Count >= 2) { decodeSeconds += times[^1] - times[0]; decodeTokens += times.Count - 1; }
            }
            Interlocked.Increment(ref requests);
            if (outcome.FinishReason == Tandem.Engine.Generation.FinishReason.Stop) Interlocked.Increment(ref stopped);
        }
    }
    await Task.WhenAll(Enumerable.Range(0, batch).Select(c => Task.Run(() => Client(c))));
    return (tokens, requests, stopped, clock.Elapsed.TotalSeconds, decodeSeconds / Math.Max(1, decodeTokens) * 1000);
}

foreach (int batch in batches)
{
    foreach (var (name, grammar) in conditions)
    {
        await RunAsync(batch, grammar, 5); // warm-up
        string before = LoadAverage();
        var (tokens, requests, stopped, elapsed, tpot) = await RunAsync(batch, grammar, seconds);
        string after = LoadAverage();
        double rate = tokens / elapsed;
        rows.Add(new()
        {
            ["batch"] = batch, ["condition"] = name, ["output_tokens"] = tokens, ["seconds"] = Math.Round(elapsed, 3),
            ["tokens_per_s"] = Math.Round(rate, 2), ["tpot_ms"] = Math.Round(tpot, 2), ["decode_tokens_per_s"] = Math.Round(batch * 1000 / tpot, 2),
            ["requests"] = requests, ["stopped"] = stopped,
            ["loadavg_before"] = before, ["loadavg_after"] = after,
        });
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"batch {batch,2}  {name,-12} {rate,8:0.0} tok/s  TPOT {tpot,6:0.0} ms (decode {batch * 1000 / tpot:0.0} tok/s)  ({tokens} tokens, {requests} requests, {stopped} stopped, {elapsed:0.0} s)  load {before} -> {after}"));
    }
}

var report = new Dictionary<string, object>
{
    ["model"] = Path.GetFileName(modelPath), ["vocab"] = model.Config.VocabSize, ["mode"] = mode.ToString().ToLowerInvariant(),
    ["cores"] = Environment.ProcessorCount, ["prompt_tokens"] = PromptTokens, ["max_tokens"] = MaxTokens, ["schema"] = JsonDocument.Parse(Schema).RootElement,
    ["date"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), ["mask_cost"] = maskCost, ["runs"] = rows,
};
File.WriteAllText(outPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
Console.WriteLine($"wrote {outPath}");
