using System.Text;
using Tandem.Engine.Gguf;
using Tandem.Engine.Structured;
using Tandem.Engine.Tokenization;

namespace Tandem.Engine.Tests.Structured;

/// <summary>
/// The mask cache keyed by the automaton's local state (issue 12): its masks equal one uncached walk of the whole
/// trie with the whole state, at every step of outputs that nest deep (up to the depth limit, where the room left
/// matters), and free JSON that nests deeper and deeper does not keep creating new cache entries.
/// </summary>
public sealed class TokenMaskCacheTests
{
    private static readonly Lazy<Vocabulary> Gpt2 = new(() => Load(TestPaths.Vocab("ggml-vocab-gpt-2.gguf")));
    private static readonly Lazy<Vocabulary> Stories = new(() => Load(TestPaths.Model("stories260K.gguf")));

    private static Vocabulary Load(string path)
    {
        using var file = GgufFile.Open(path);
        return new Vocabulary(file);
    }

    private static List<int> Allowed(ulong[] mask, int vocabSize)
    {
        var allowed = new List<int>();
        for (int t = 0; t < vocabSize; t++)
            if ((mask[t >> 6] & (1UL << t)) != 0) allowed.Add(t);
        return allowed;
    }

    /// <summary>
    /// How deep the output is, as the walk below steers it: two per open object or array, less one while a string,
    /// number or literal is open or after whitespace (so that, steering deeper, values end soon and containers open).
    /// </summary>
    private static int Nesting(JsonAutomaton a)
    {
        int[] frames = a.WriteKey();
        var kinds = a.Grammar.Kinds;
        int containers = 0;
        for (int f = 1; f < a.Depth; f++)
            if (kinds[frames[f * 4]] is JsonGrammar.NodeKind.Object or JsonGrammar.NodeKind.FreeObject or JsonGrammar.NodeKind.Array) containers++;
        bool inValue = a.Depth > 1 && kinds[frames[(a.Depth - 1) * 4]] is not (JsonGrammar.NodeKind.Object or JsonGrammar.NodeKind.FreeObject or JsonGrammar.NodeKind.Array);
        return 2 * containers - (inValue ? 1 : 0) - (frames[^1] > 0 ? 1 : 0); // and less one after whitespace
    }

    /// <summary>
    /// A random output over <paramref name="vocab"/>: for its first <paramref name="nestSteps"/> steps, three tokens in
    /// four are one that nests deepest (so the output reaches the depth limit), after that one that closes most;
    /// <paramref name="onStep"/> sees the constraint before each token. Returns the text.
    /// </summary>
    private static string Drive(Vocabulary vocab, JsonConstraint constraint, int seed, int steps, int nestSteps, Action<int> onStep)
    {
        var rng = new Random(seed);
        var probe = new JsonAutomaton(constraint.Grammar);
        var text = new List<byte>();
        for (int step = 0; step < steps; step++)
        {
            onStep(step);
            // The tokens allowed, each with where it leads; those that would complete the output are left out (while
            // others remain), so that it goes on for every step asked.
            int sign = step < nestSteps ? 1 : -1;
            var scored = Allowed(constraint.AllowedTokens(), vocab.Count).Where(t => !vocab.IsEndOfGeneration(t)).Select(t =>
            {
                probe.CopyFrom(constraint.State);
                foreach (byte b in vocab.Piece(t)) Assert.True(probe.Advance(b));
                return (Token: t, Score: sign * Nesting(probe), Completes: probe.IsComplete);
            }).ToList();
            if (scored.Count == 0) break;
            if (scored.Any(x => !x.Completes)) scored.RemoveAll(x => x.Completes);
            int next;
            if (rng.Next(4) == 0)
            {
                next = scored[rng.Next(scored.Count)].Token;
            }
            else
            {
                int best = scored.Max(x => x.Score);
                var top = scored.Where(x => x.Score == best).ToList();
                next = top[rng.Next(top.Count)].Token;
            }
            constraint.Accept(next);
            text.AddRange(vocab.Piece(next));
        }
        return Encoding.UTF8.GetString(text.ToArray());
    }

    public static TheoryData<string, string?, int> Paths => new()
    {
        // vocabulary, schema (null: json_object), seed
        { "stories260K", null, 1 },
        { "stories260K", null, 2 },
        { "stories260K", RandomSchemas.Typical[2], 3 },
        { "stories260K", RandomSchemas.Typical[9], 4 },
        { "gpt-2", null, 5 },
        { "gpt-2", RandomSchemas.Typical[4], 6 },
    };

    [Theory]
    [MemberData(nameof(Paths))]
    public void Cached_masks_equal_the_uncached_walk_at_every_step(string vocabName, string? schema, int seed)
    {
        var vocab = vocabName == "gpt-2" ? Gpt2.Value : Stories.Value;
        // A grammar of its own: an empty cache, so both the walk that fills an entry and the lookups are compared.
        var grammar = schema is null ? JsonSchemaCompiler.CompileJsonObject() : JsonSchemaCompiler.Compile(System.Text.Json.JsonDocument.Parse(schema).RootElement, schema);
        var constraint = new JsonConstraint(grammar, vocab);
        int maxDepthSeen = 0;
        int steps = vocabName == "gpt-2" ? 100 : 320;
        Drive(vocab, constraint, seed, steps, nestSteps: steps * 2 / 3, onStep: step =>
        {
            var cached = constraint.AllowedTokens();
            var uncached = constraint.AllowedTokensUncached();
            if (!cached.AsSpan().SequenceEqual(uncached))
            {
                var a = Allowed(cached, vocab.Count);
                var b = Allowed(uncached, vocab.Count);
                string Show(IEnumerable<int> ts) => string.Join(", ", ts.Take(8).Select(t => $"{t} \"{Encoding.UTF8.GetString(vocab.Piece(t))}\""));
                Assert.Fail($"step {step}: cached mask has {a.Count} tokens, uncached {b.Count}; only cached: {Show(a.Except(b))}; only uncached: {Show(b.Except(a))}");
            }
            maxDepthSeen = Math.Max(maxDepthSeen, constraint.State.Depth);
        });
        // Not vacuous: free JSON nested up to the depth limit, where the room left shapes the masks.
        if (schema is null)
            Assert.True(maxDepthSeen >= JsonAutomaton.MaxDepth - 3, $"the output nested only {maxDepthSeen} deep");
    }

    /// <summary>
    /// The same JSON members written one level deeper each time (strings, numbers, literals, arrays, objects, with
    /// whitespace) reach whole automaton states never seen before at every level, but no new local state: after
    /// the first level the cache gains no entry, up to the depth limit. Keyed by the whole state, it gained one per
    /// state (this failed before the local key).
    /// </summary>
    [Fact]
    public void Free_json_nesting_deeper_does_not_create_new_cache_entries()
    {
        var vocab = Stories.Value;
        var grammar = JsonSchemaCompiler.CompileJsonObject();
        var cache = grammar.MasksFor(VocabularyTrie.For(vocab));
        var constraint = new JsonConstraint(grammar, vocab);
        const string Level = "{\"k\": \"t\\u00e9xt\", \"n\": -12.5e3, \"b\": true, \"z\": null,\n  \"l\": [1, \"s\", []], \"o\": {\"x\": false}, \"d\": [";
        var entries = new List<int>();
        var states = new HashSet<string>();
        // Levels of 3 frames each (the object, the array "d" and, inside it, the next object), up to the limit.
        for (int level = 0; constraint.State.Depth + 3 <= JsonAutomaton.MaxDepth; level++)
        {
            foreach (byte b in Encoding.UTF8.GetBytes(Level))
            {
                constraint.AllowedTokens();
                states.Add(string.Join(',', constraint.State.WriteKey()));
                constraint.Accept(vocab.ByteToToken(b));
            }
            entries.Add(cache.Count);
        }
        Assert.True(entries.Count >= 20, $"only {entries.Count} levels");
        Assert.True(states.Count > 1000, $"{states.Count} distinct whole states");
        // Level 0 starts at the root and meets the rest; from then on nothing new, until the last level, at the depth
        // limit, where the room left (fewer frames than one token can open) makes its states differ.
        Assert.True(entries[1] == entries[^2], $"cache entries after each level: {string.Join(' ', entries)}");
    }
}
