using System.Runtime.InteropServices;
using System.Text;
using Tandem.Engine.Chat;
using Tandem.Engine.Chat.Tools;
using Tandem.Engine.Sampling;
using Tandem.Engine.Structured;
using Tandem.Engine.Tokenization;

namespace Tandem.Engine.Tests.Structured;

/// <summary>
/// Tool calls enforced (issue 14): a call's grammar is a union of the tools told apart by name, so the name chosen
/// picks the schema its arguments follow; and with tool_choice "auto" the reply is free text until the format's call
/// marker, then constrained until the call ends. Property tests over real vocabularies with random logits: the model
/// is made to open a call by a token prefix (the tokens of the marker, taken as if sampled), and every reply that ends
/// with end of sequence is read by the server's own parser into calls whose arguments validate against their tool's
/// schema (JsonSchema.Net). The constraint's state is the tokens it took: at every step a fresh constraint fed those
/// tokens masks exactly as the live one (what a cluster worker or a recomputation rebuilds).
/// </summary>
public sealed class ToolCallConstraintTests
{
    public const string WeatherSchema =
        """{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"],"additionalProperties":false}""";
    public const string TimeSchema =
        """{"type":"object","properties":{"zone":{"enum":["UTC","CET"]},"exact":{"type":"boolean"}},"required":["zone","exact"],"additionalProperties":false}""";

    private static readonly Dictionary<string, string> Tools = new() { ["get_weather"] = WeatherSchema, ["get_time"] = TimeSchema };

    /// <summary>One call: {"name": one of the tools, arguments: that tool's schema}, as the server's ToolCallPlan writes it.</summary>
    public static string CallSchema(string argumentsKey) =>
        "{\"anyOf\":[" + string.Join(",", Tools.Select(t =>
            $$"""{"type":"object","properties":{"name":{"const":"{{t.Key}}"},"{{argumentsKey}}":{{t.Value}}},"required":["name","{{argumentsKey}}"],"additionalProperties":false}""")) + "]}";

    private static string ArgumentsKey(ToolCallFormat format) => format == ToolCallFormat.Llama3Json ? "parameters" : "arguments";

    [Theory]
    [InlineData("stories260K")]
    [InlineData("gpt-2")]
    public void A_tagged_union_writes_arguments_valid_for_the_tool_its_name_picks(string vocabName)
    {
        var vocab = ConstrainedSamplingTests.Vocabularies[vocabName].Value;
        string schema = CallSchema("arguments");
        var grammar = JsonGrammar.FromSchema(schema);
        var names = new HashSet<string>();
        int stopped = 0;
        for (int seed = 0; seed < 40; seed++)
        {
            var (text, stop) = ConstrainedSamplingTests.SampleOne(vocab, grammar, seed, maxTokens: 200);
            if (!stop) continue;
            stopped++;
            StructuredOutputAssert.Valid(schema, text);
            names.Add(System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("name").GetString()!);
        }
        Assert.True(stopped >= 10, $"only {stopped} of 40 outputs ended");
        Assert.Equal(2, names.Count); // both branches were taken
    }

    [Theory]
    [InlineData("""{"anyOf":[{"type":"object","properties":{"a":{"const":1}},"required":["a"]},{"type":"object","properties":{"b":{"const":2}},"required":["b"]}]}""")]
    [InlineData("""{"anyOf":[{"type":"object","properties":{"a":{"const":1}},"required":["a"]},{"type":"object","properties":{"a":{"enum":[2,1]}},"required":["a"]}]}""")]
    [InlineData("""{"anyOf":[{"type":"object","properties":{"a":{"const":1}}}]}""")]
    [InlineData("""{"anyOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}]}""")]
    [InlineData("""{"anyOf":[{"type":"object","properties":{"a":{"const":1}},"required":["a"]}],"properties":{}}""")]
    public void Unions_the_first_property_cannot_tell_apart_are_refused_by_name(string schema)
    {
        var e = Assert.Throws<JsonSchemaException>(() => JsonGrammar.FromSchema(schema));
        Assert.Equal("anyOf", e.Keyword);
    }

    /// <summary>The reply's start (taken as if sampled) that opens a call in each format.</summary>
    public static TheoryData<string, ToolCallFormat, string, bool> Openings => new()
    {
        { "stories260K", ToolCallFormat.Hermes, "Let me look.<tool_call>", true },
        { "stories260K", ToolCallFormat.Hermes, "<tool_call>\n", false },
        { "stories260K", ToolCallFormat.Mistral, "[TOOL_CALLS]", true },
        { "stories260K", ToolCallFormat.Llama3Json, "{", true },
        { "stories260K", ToolCallFormat.Llama3Json, "<|python_tag|>", false },
        { "gpt-2", ToolCallFormat.Hermes, "Checking.\n<tool_call>", false },
        { "gpt-2", ToolCallFormat.Mistral, "[TOOL_CALLS]", false },
        { "gpt-2", ToolCallFormat.Llama3Json, " {", true },
        { "llama-spm", ToolCallFormat.Hermes, "Sure. <tool_call>", true },
    };

    [Theory]
    [MemberData(nameof(Openings))]
    public void Once_the_marker_is_written_every_call_validates_against_its_tools_schema(string vocabName, ToolCallFormat format, string opening, bool parallel)
    {
        var vocab = ConstrainedSamplingTests.Vocabularies[vocabName].Value;
        var syntax = new ToolCallSyntax(format, JsonGrammar.FromSchema(CallSchema(ArgumentsKey(format))), parallel);
        int[] prefix = Spell(vocab, opening);
        int stopped = 0, calls = 0;
        const int Runs = 16;
        for (int seed = 0; seed < Runs; seed++)
        {
            var (text, stop) = Sample(vocab, syntax, prefix, seed, maxTokens: 250, checkReplay: seed < 2 && vocabName == "stories260K");
            if (!stop) continue;
            stopped++;
            var parser = new ToolCallStreamParser(format);
            var (content, first) = parser.Push(text);
            var (rest, more) = parser.Finish();
            var parsed = first.Concat(more).ToList();
            Assert.True(parsed.Count > 0, $"no call read from the reply: {text}");
            if (!parallel) Assert.Single(parsed);
            foreach (var call in parsed)
            {
                Assert.True(Tools.TryGetValue(call.Name, out string? schema), $"'{call.Name}' is not a tool: {text}");
                StructuredOutputAssert.Valid(schema, call.Arguments);
                calls++;
            }
            // The text before the marker is content, the calls are not (free text may follow a Hermes call).
            Assert.StartsWith(opening[..opening.IndexOfAny(['<', '[', '{'])].Trim(), (content + rest).Trim());
            Assert.DoesNotContain("\"name\"", content + rest);
        }
        Assert.True(stopped * 2 >= Runs, $"only {stopped} of {Runs} replies ended");
        Assert.True(calls >= stopped);
    }

    [Fact]
    public void Text_before_a_marker_is_not_masked_and_a_call_is_masked_to_its_grammar()
    {
        var vocab = ConstrainedSamplingTests.Vocabularies["gpt-2"].Value;
        var constraint = new ToolCallConstraint(new ToolCallSyntax(ToolCallFormat.Hermes, JsonGrammar.FromSchema(CallSchema("arguments")), true), vocab);
        var logits = new float[vocab.Count];
        foreach (int t in Spell(vocab, "The weather today is"))
        {
            constraint.MaskLogits(logits);
            Assert.DoesNotContain(float.NegativeInfinity, logits);
            constraint.Accept(t);
        }
        Assert.False(constraint.InCall);
        foreach (int t in Spell(vocab, " <tool_call>")) constraint.Accept(t);
        Assert.True(constraint.InCall);
        Assert.False(constraint.IsComplete);
        constraint.MaskLogits(logits);
        int allowed = logits.Count(l => !float.IsNegativeInfinity(l));
        Assert.InRange(allowed, 1, vocab.Count / 10); // whitespace or '{' and the tokens that start a call object
        Assert.False(constraint.TryAccept(Spell(vocab, "Hello")[0]));
    }

    [Fact]
    public void Text_a_call_and_its_closing_allocate_nothing_per_token()
    {
        var vocab = ConstrainedSamplingTests.Vocabularies["gpt-2"].Value;
        var syntax = new ToolCallSyntax(ToolCallFormat.Hermes, JsonGrammar.FromSchema(CallSchema("arguments")), Parallel: true);
        int[] opening = Spell(vocab, "Let me see. <tool_call>");
        var logits = new float[vocab.Count];
        var history = new int[1];
        long Run()
        {
            var sampler = new Sampler(new SamplingParams { Temperature = 0.8f, Seed = 3 }, vocab.Count);
            var constraint = new ToolCallConstraint(syntax, vocab);
            sampler.Constraint = constraint;
            var rng = new Xoshiro256StarStar(9);
            long before = GC.GetAllocatedBytesForCurrentThread();
            foreach (int t in opening)
            {
                constraint.MaskLogits(logits);
                constraint.Accept(t);
            }
            for (int i = 0; i < 150; i++)
            {
                for (int t = 0; t < logits.Length; t++) logits[t] = (float)rng.NextDouble() * 4f;
                int id = sampler.Sample(logits, history);
                if (vocab.IsEndOfGeneration(id)) break;
                constraint.Accept(id);
            }
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        Run(); // the first run walks the trie and fills the mask cache
        // The least of a few runs: the runtime may allocate on this thread now and then; a per-token allocation shows in every run.
        Assert.Equal(0L, Enumerable.Range(0, 4).Min(_ => Run()));
    }

    /// <summary>A constrained reply from random logits after <paramref name="prefix"/>: its text (prefix included) and whether it ended.</summary>
    private static (string Text, bool Stopped) Sample(Vocabulary vocab, ToolCallSyntax syntax, int[] prefix, int seed, int maxTokens, bool checkReplay)
    {
        var rng = new Random(seed);
        // Favour tokens with a quote or a closing brace a little, so that strings and objects end within the budget.
        var bias = new float[vocab.Count];
        for (int t = 0; t < bias.Length; t++)
        {
            var piece = vocab.Piece(t).AsSpan();
            bias[t] = 2f * (float)(rng.NextDouble() * 2 - 1) + (piece.Contains((byte)'"') || piece.Contains((byte)'}') ? 3f : 0f);
        }
        // And end of sequence a lot: it is masked inside calls, so it only ends the free text after them.
        foreach (int t in vocab.EndOfGenerationIds) bias[t] = 8f;
        var sampler = new Sampler(new SamplingParams { Temperature = 1f, Seed = (ulong)seed }, vocab.Count);
        var constraint = new ToolCallConstraint(syntax, vocab);
        sampler.Constraint = constraint;
        var history = new List<int>();
        foreach (int t in prefix)
        {
            Assert.True(constraint.TryAccept(t), $"the opening's token {t} was refused");
            history.Add(t);
        }
        Assert.True(constraint.InCall || syntax.Format == ToolCallFormat.Mistral, "the opening did not open a call");
        var logits = new float[vocab.Count];
        var live = new float[vocab.Count];
        var replayed = new float[vocab.Count];
        for (int i = 0; i < maxTokens; i++)
        {
            for (int t = 0; t < logits.Length; t++) logits[t] = bias[t] + 3f * (float)rng.NextDouble();
            if (checkReplay)
            {
                var fresh = new ToolCallConstraint(syntax, vocab);
                Assert.True(((ITokenConstraint)fresh).TryAcceptAll(CollectionsMarshal.AsSpan(history)));
                logits.CopyTo(live, 0);
                logits.CopyTo(replayed, 0);
                constraint.MaskLogits(live);
                fresh.MaskLogits(replayed);
                Assert.Equal(live, replayed);
                Assert.Equal(constraint.IsComplete, fresh.IsComplete);
            }
            int id = sampler.Sample(logits, CollectionsMarshal.AsSpan(history));
            Assert.True(constraint.TryAccept(id), $"the sampler chose token {id}, which the constraint refuses");
            if (vocab.IsEndOfGeneration(id))
            {
                Assert.True(constraint.IsComplete);
                return (Text(vocab, history), true);
            }
            history.Add(id);
        }
        return (Text(vocab, history), false);
    }

    private static string Text(Vocabulary vocab, List<int> tokens) =>
        Encoding.UTF8.GetString(tokens.SelectMany(t => vocab.Piece(t)).ToArray());

    /// <summary>Spells <paramref name="text"/> in tokens, longest piece first (the pieces' bytes are the text's).</summary>
    internal static int[] Spell(Vocabulary vocab, string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var tokens = new List<int>();
        for (int at = 0; at < bytes.Length;)
        {
            int best = -1, length = 0;
            for (int t = 0; t < vocab.Count; t++)
            {
                byte[] piece = vocab.Piece(t);
                if (piece.Length > length && !vocab.IsHiddenUnlessSpecial(t) && bytes.AsSpan(at).StartsWith(piece)) { best = t; length = piece.Length; }
            }
            Assert.True(best >= 0, $"no token spells byte {bytes[at]}");
            tokens.Add(best);
            at += length;
        }
        return [.. tokens];
    }
}
