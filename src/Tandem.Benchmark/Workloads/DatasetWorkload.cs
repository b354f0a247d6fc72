using System.Text.Json;

namespace Tandem.Benchmark.Workloads;

/// <summary>
/// Requests read from a file: JSON Lines of <c>{"prompt": "...", "output_len": N}</c> (also <c>max_tokens</c>), or a
/// ShareGPT JSON array (<c>[{"conversations":[{"from":"human","value":...},{"from":"gpt","value":...}]}]</c>), where the
/// first human turn is the prompt and the reply that follows sets the answer length. Without the server's tokenizer,
/// lengths of text are estimated at four characters per token (the server's usage reports the real counts).
/// </summary>
public static class DatasetWorkload
{
    public const double CharactersPerToken = 4.0;

    /// <param name="countTokens">Counts a prompt's tokens (the model's tokenizer); null: estimated from its characters.</param>
    public static IReadOnlyList<BenchRequest> Load(string path, int count, int seed, int? maxModelLength = null, int? fixedOutputLength = null,
        Func<string, int>? countTokens = null)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), $"--num-prompts must be at least 1, got {count}");
        if (!File.Exists(path)) throw new FileNotFoundException($"dataset file not found: {path}", path);
        var entries = Read(path);
        var usable = entries
            .Select(e => (e.Prompt, Input: countTokens?.Invoke(e.Prompt) ?? EstimateTokens(e.Prompt), Output: fixedOutputLength ?? e.OutputLength))
            .Where(e => e.Input >= 1 && e.Output >= 1 && (maxModelLength is not int cap || e.Input + e.Output <= cap))
            .ToList();
        if (usable.Count == 0)
            throw new ArgumentException($"{path}: no usable entries (each needs a prompt and an answer length, fitting --max-model-len)");

        // Shuffle with the seed, then cycle when more requests are asked for than the file holds.
        var rng = new Random(seed);
        for (int i = usable.Count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (usable[i], usable[j]) = (usable[j], usable[i]);
        }
        var requests = new BenchRequest[count];
        for (int i = 0; i < count; i++)
        {
            var e = usable[i % usable.Count];
            requests[i] = new BenchRequest(i, e.Prompt, null, e.Input, e.Output);
        }
        return requests;
    }

    public static int EstimateTokens(string text) => (int)Math.Ceiling(text.Length / CharactersPerToken);

    private static List<(string Prompt, int OutputLength)> Read(string path)
    {
        using var reader = new StreamReader(path);
        int first;
        while ((first = reader.Peek()) >= 0 && char.IsWhiteSpace((char)first)) reader.Read();
        var result = new List<(string, int)>();
        if (first == '[')
        {
            using var doc = JsonDocument.Parse(reader.ReadToEnd());
            foreach (var item in doc.RootElement.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object) continue;
                if (item.TryGetProperty("conversations", out var turns) && turns.ValueKind == JsonValueKind.Array)
                {
                    if (ShareGptPair(turns) is { } pair) result.Add(pair);
                }
                else if (PromptEntry(item) is { } entry) result.Add(entry);
            }
            return result;
        }
        int lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); }
            catch (JsonException e) { throw new ArgumentException($"{path}:{lineNumber}: not JSON ({e.Message})"); }
            using (doc)
            {
                if (doc.RootElement.ValueKind == JsonValueKind.Object && PromptEntry(doc.RootElement) is { } entry) result.Add(entry);
                else throw new ArgumentException($"{path}:{lineNumber}: expected {{\"prompt\": string, \"output_len\": integer}}");
            }
        }
        return result;
    }

    private static (string, int)? PromptEntry(JsonElement item)
    {
        if (!item.TryGetProperty("prompt", out var prompt) || prompt.ValueKind != JsonValueKind.String) return null;
        foreach (string name in (string[])["output_len", "output_tokens", "max_tokens"])
            if (item.TryGetProperty(name, out var n) && n.TryGetInt32(out int length))
                return (prompt.GetString()!, length);
        if (item.TryGetProperty("completion", out var completion) && completion.ValueKind == JsonValueKind.String)
            return (prompt.GetString()!, EstimateTokens(completion.GetString()!));
        return null;
    }

    private static (string, int)? ShareGptPair(JsonElement turns)
    {
        string? human = null;
        foreach (var turn in turns.EnumerateArray())
        {
            string? from = turn.TryGetProperty("from", out var f) ? f.GetString() : turn.TryGetProperty("role", out var r) ? r.GetString() : null;
            string? value = turn.TryGetProperty("value", out var v) ? v.GetString() : turn.TryGetProperty("content", out var c) ? c.GetString() : null;
            if (value is null) continue;
            if (human is null)
            {
                if (from is "human" or "user") human = value;
            }
            else if (from is "gpt" or "assistant" or "chatgpt" or "bard")
                return (human, EstimateTokens(value));
        }
        return null;
    }
}
