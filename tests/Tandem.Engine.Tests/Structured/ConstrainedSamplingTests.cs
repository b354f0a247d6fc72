using System.Text;
using Tandem.Engine.Gguf;
using Tandem.Engine.Sampling;
using Tandem.Engine.Structured;
using Tandem.Engine.Tokenization;

namespace Tandem.Engine.Tests.Structured;

/// <summary>
/// Property tests of constrained sampling over real vocabularies (512, 32,000 and 50,257 tokens): whatever the logits,
/// every output that ends with end of sequence parses and validates against its schema; every sampled token is one
/// the constraint takes; the trie walk allows exactly the tokens a token-by-token check allows; and sampling from
/// cached masks allocates nothing.
/// </summary>
public sealed class ConstrainedSamplingTests
{
    internal static readonly Dictionary<string, Lazy<Vocabulary>> Vocabularies = new()
    {
        ["stories260K"] = new(() => Load(TestPaths.Model("stories260K.gguf"))),
        ["llama-spm"] = new(() => Load(TestPaths.Vocab("ggml-vocab-llama-spm.gguf"))),
        ["gpt-2"] = new(() => Load(TestPaths.Vocab("ggml-vocab-gpt-2.gguf"))),
    };

    private static Vocabulary Load(string path)
    {
        using var file = GgufFile.Open(path);
        return new Vocabulary(file);
    }

    /// <summary>One constrained sequence sampled from random logits: its text, and whether it ended with end of sequence.</summary>
    internal static (string Text, bool Stopped) SampleOne(Vocabulary vocab, JsonGrammar grammar, int seed, int maxTokens)
    {
        var rng = new Random(seed);
        // Random logits: a per-run preference for each token plus fresh noise each step. Some runs favour tokens that
        // hold a quote, so that strings end within the token budget and more outputs reach their end.
        float spread = new[] { 0.5f, 2f, 5f }[rng.Next(3)];
        float quoteBoost = new[] { 0f, 3f, 6f }[rng.Next(3)];
        var bias = new float[vocab.Count];
        for (int t = 0; t < bias.Length; t++)
            bias[t] = spread * (float)(rng.NextDouble() * 2 - 1) + (vocab.Piece(t).AsSpan().Contains((byte)'"') ? quoteBoost : 0f);
        var sampling = new SamplingParams
        {
            Temperature = new[] { 0f, 0.7f, 1f, 1.5f }[rng.Next(4)],
            TopK = rng.Next(3) == 0 ? 40 : 0,
            TopP = rng.Next(3) == 0 ? 0.9f : 1f,
            Seed = (ulong)seed,
        };
        var sampler = new Sampler(sampling, vocab.Count);
        var constraint = new JsonConstraint(grammar, vocab);
        sampler.Constraint = constraint;
        var logits = new float[vocab.Count];
        var history = new List<int>();
        var bytes = new List<byte>();
        for (int i = 0; i < maxTokens; i++)
        {
            for (int t = 0; t < logits.Length; t++) logits[t] = bias[t] + 3f * (float)rng.NextDouble();
            int id = sampler.Sample(logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(history));
            Assert.True(constraint.TryAccept(id), $"the sampler chose token {id}, which the constraint refuses");
            if (vocab.IsEndOfGeneration(id))
            {
                Assert.True(constraint.IsComplete);
                return (Strict.GetString(bytes.ToArray()), true);
            }
            history.Add(id);
            bytes.AddRange(vocab.Piece(id));
        }
        return (Encoding.UTF8.GetString(bytes.ToArray()), false);
    }

    private static readonly UTF8Encoding Strict = new(false, throwOnInvalidBytes: true);

    public static TheoryData<string, int, int> Runs => new()
    {
        // vocabulary, samples per schema, random schemas
        { "stories260K", 12, 60 },
        { "llama-spm", 2, 12 },
        { "gpt-2", 2, 10 },
    };

    [Theory]
    [MemberData(nameof(Runs))]
    public void Every_output_that_ends_with_end_of_sequence_validates_against_its_schema(string vocabName, int samples, int randomSchemas)
    {
        var vocab = Vocabularies[vocabName].Value;
        var schemas = RandomSchemas.Typical.Concat(RandomSchemas.Generate(seed: vocabName.Length, randomSchemas)).ToList();
        int stopped = 0, total = 0;
        for (int s = 0; s < schemas.Count; s++)
        {
            var grammar = JsonGrammar.FromSchema(schemas[s]);
            for (int k = 0; k < samples; k++)
            {
                var (text, stop) = SampleOne(vocab, grammar, seed: s * 1000 + k, maxTokens: 200);
                total++;
                if (!stop) continue;
                stopped++;
                StructuredOutputAssert.Valid(schemas[s], text);
            }
        }
        // Not vacuous: a good share of the outputs reached their end.
        Assert.True(stopped * 4 >= total, $"only {stopped} of {total} outputs ended with end of sequence");
    }

    [Theory]
    [InlineData("stories260K")]
    [InlineData("gpt-2")]
    public void Json_object_outputs_are_objects(string vocabName)
    {
        var vocab = Vocabularies[vocabName].Value;
        int stopped = 0;
        for (int k = 0; k < 10; k++)
        {
            var (text, stop) = SampleOne(vocab, JsonGrammar.JsonObject, seed: 77 + k, maxTokens: 120);
            if (!stop) continue;
            stopped++;
            StructuredOutputAssert.Valid(null, text);
        }
        Assert.True(stopped > 0);
    }

    /// <summary>The trie walk against the definition: a token is allowed iff its bytes, one by one, are taken.</summary>
    [Theory]
    [InlineData("stories260K", 1)]
    [InlineData("llama-spm", 8)]
    [InlineData("gpt-2", 10)]
    public void The_trie_walk_allows_exactly_the_tokens_that_continue_the_output(string vocabName, int checkEvery)
    {
        var vocab = Vocabularies[vocabName].Value;
        var rng = new Random(5);
        int checks = 0;
        foreach (string? schema in RandomSchemas.Typical.Take(6).Cast<string?>().Append(null))
        {
            var grammar = schema == null ? JsonGrammar.JsonObject : JsonGrammar.FromSchema(schema);
            var constraint = new JsonConstraint(grammar, vocab);
            for (int step = 0; step < 40; step++)
            {
                ulong[] mask = constraint.AllowedTokens();
                var allowed = new List<int>();
                bool check = step % checkEvery == 0;
                for (int t = 0; t < vocab.Count; t++)
                {
                    bool inMask = (mask[t >> 6] & (1UL << t)) != 0;
                    if (check)
                    {
                        Assert.True(inMask == constraint.CanAccept(t), $"token {t} ({Encoding.UTF8.GetString(vocab.Piece(t))}): mask says {inMask}");
                        checks++;
                    }
                    if (inMask) allowed.Add(t);
                }
                int next = allowed[rng.Next(allowed.Count)];
                if (vocab.IsEndOfGeneration(next)) break;
                constraint.Accept(next);
            }
        }
        Assert.True(checks > 0);
    }

    [Fact]
    public void Sampling_from_cached_masks_allocates_nothing()
    {
        var vocab = Vocabularies["gpt-2"].Value;
        var grammar = JsonGrammar.FromSchema(RandomSchemas.Typical[2]);
        var logits = new float[vocab.Count];
        var history = new int[1];
        long Run()
        {
            var sampler = new Sampler(new SamplingParams { Temperature = 0.8f, Seed = 3 }, vocab.Count);
            var constraint = new JsonConstraint(grammar, vocab);
            sampler.Constraint = constraint;
            var rng = new Xoshiro256StarStar(9);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 120; i++)
            {
                for (int t = 0; t < logits.Length; t++) logits[t] = (float)rng.NextDouble() * 4f;
                int id = sampler.Sample(logits, history);
                if (vocab.IsEndOfGeneration(id)) break;
                constraint.Accept(id);
            }
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        Assert.True(Run() > 0); // the first run walks the trie and fills the cache
        // The same states again: lookups only. The least of a few runs, because the runtime itself may allocate on
        // this thread now and then (tiered compilation promoting a hot method); a per-token allocation shows in every run.
        Assert.Equal(0L, Enumerable.Range(0, 4).Min(_ => Run()));
    }

    [Fact]
    public void End_of_sequence_is_allowed_only_where_the_output_is_complete()
    {
        var vocab = Vocabularies["stories260K"].Value;
        var constraint = new JsonConstraint(JsonGrammar.FromSchema("""{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}"""), vocab);
        int eos = vocab.EosId;
        foreach (char c in "{\"n\":4")
        {
            Assert.False(constraint.CanAccept(eos));
            Assert.True(constraint.TryAccept(vocab.ByteToToken((byte)c)));
        }
        Assert.False(constraint.CanAccept(eos));
        Assert.True(constraint.TryAccept(vocab.ByteToToken((byte)'}')));
        Assert.True(constraint.IsComplete);
        Assert.True(constraint.CanAccept(eos));
        var logits = new float[vocab.Count];
        constraint.MaskLogits(logits);
        Assert.Equal(0f, logits[eos]);
        Assert.Equal(float.NegativeInfinity, logits[vocab.ByteToToken((byte)'x')]);
    }
}
