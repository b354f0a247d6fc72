namespace Tandem.Benchmark.Workloads;

/// <summary>
/// A chat workload whose prompts repeat themselves, as real chat traffic does: conversations of
/// <see cref="Turns"/> turns, each turn resending the whole history (a system prompt, then every earlier user
/// message and answer) followed by a new user message. Every conversation of a run starts with the same system prompt
/// of <see cref="SystemTokens"/> tokens (an assistant's instructions), so a prefix cache can serve the system prompt
/// across conversations and the history within one. A turn is sent a think time after the previous turn's answer
/// ended (exponential, mean <see cref="ThinkSeconds"/>); conversations start at the run's arrival rate.
/// <para>
/// The history holds a stand-in answer of the length the previous turn asked for, drawn from the seed, not the server's
/// actual text: every server then gets the same prompts, and turn k+1's prompt starts with turn k's prompt exactly
/// (what a cache can reuse is the history, not what the answer happened to say).
/// </para>
/// </summary>
public sealed record MultiTurnWorkload(int Turns, int SystemTokens, LengthDistribution User, LengthDistribution Output, double ThinkSeconds, int? MaxModelLength)
{
    public const string Name = "multiturn";
    public const int DefaultTurns = 4;
    public const int DefaultSystemTokens = 256;
    public const int DefaultUserTokens = 64;
    public const int DefaultOutputTokens = 64;
    public const double DefaultThinkSeconds = 1.0;

    /// <summary>The workload from <c>tandem bench serve</c>'s options; throws <see cref="ArgumentException"/> saying which is wrong.</summary>
    public static MultiTurnWorkload FromOptions(int? turns, int? systemTokens, int? userTokens, int? outputTokens, double? userCv, double? outputCv,
        double? thinkSeconds, int? maxModelLength)
    {
        int t = turns ?? DefaultTurns, sys = systemTokens ?? DefaultSystemTokens, user = userTokens ?? DefaultUserTokens, output = outputTokens ?? DefaultOutputTokens;
        double think = thinkSeconds ?? DefaultThinkSeconds;
        if (t < 1) throw new ArgumentException($"--turns must be at least 1, got {t}");
        if (sys < 0) throw new ArgumentException($"--system-len must be 0 or more, got {sys}");
        if (user < 1) throw new ArgumentException($"--input-len (tokens per user message) must be at least 1, got {user}");
        if (output < 1) throw new ArgumentException($"--output-len must be at least 1, got {output}");
        if (!(think >= 0) || double.IsInfinity(think)) throw new ArgumentException($"--think-time must be 0 or more seconds, got {think}");
        if (userCv is < 0 || outputCv is < 0) throw new ArgumentException("a length CV must be 0 or more");
        if (maxModelLength is int cap && sys + user + output > cap)
            throw new ArgumentException($"--max-model-len {cap} does not hold even a first turn ({sys} system + {user} user + {output} answer tokens)");
        return new MultiTurnWorkload(t, sys, new LengthDistribution(user, userCv ?? 0.5), new LengthDistribution(output, outputCv ?? 0.5), think, maxModelLength);
    }

    /// <summary>
    /// The requests of <paramref name="conversations"/> conversations drawn from <paramref name="seed"/>: all first turns
    /// first (indices 0..conversations−1, sent at the run's arrival times), then every second turn, and so on; a later
    /// turn names its predecessor in <see cref="BenchRequest.After"/>. A conversation whose next turn would pass
    /// <see cref="MaxModelLength"/> ends early.
    /// </summary>
    public IReadOnlyList<BenchRequest> Generate(int conversations, int seed, PromptFormat format = PromptFormat.Text,
        int tokenIdMin = PromptBuilder.DefaultTokenIdMin, int tokenIdMax = PromptBuilder.DefaultTokenIdMax, ExactTextPromptBuilder? exactText = null)
    {
        if (conversations < 1) throw new ArgumentOutOfRangeException(nameof(conversations), $"a multi-turn workload needs at least one conversation, got {conversations}");
        var rng = new Random(seed);
        Piece Draw(int tokens) => format == PromptFormat.TokenIds
            ? new Piece(null, PromptBuilder.TokenIds(rng, tokens, tokenIdMin, tokenIdMax), tokens)
            : new Piece(exactText is null ? PromptBuilder.Text(rng, tokens) : exactText.Text(rng, tokens), null, tokens);
        var system = SystemTokens > 0 ? Draw(SystemTokens) : null;

        // Turns per conversation, each its prompt (history + new message), answer length and think time.
        var turns = new List<List<(Piece Prompt, int Output, double Think)>>(conversations);
        for (int c = 0; c < conversations; c++)
        {
            var conversation = new List<(Piece, int, double)>(Turns);
            var history = system;
            for (int t = 0; t < Turns; t++)
            {
                var prompt = Join(history, Draw(User.Sample(rng)));
                int output = Output.Sample(rng);
                double think = t == 0 || ThinkSeconds == 0 ? 0 : -ThinkSeconds * Math.Log(1 - rng.NextDouble());
                if (MaxModelLength is int cap && prompt.Tokens + output > cap) break;
                conversation.Add((prompt, output, think));
                history = Join(prompt, Draw(output)); // the answer's stand-in joins the history
            }
            turns.Add(conversation);
        }

        var requests = new List<BenchRequest>();
        var previous = new int[conversations];
        for (int t = 0; t < Turns; t++)
            for (int c = 0; c < conversations; c++)
            {
                if (t >= turns[c].Count) continue;
                var (prompt, output, think) = turns[c][t];
                int index = requests.Count;
                requests.Add(new BenchRequest(index, prompt.Text, prompt.Ids, prompt.Tokens, output)
                {
                    After = t == 0 ? null : previous[c],
                    ThinkSeconds = think,
                });
                previous[c] = index;
            }
        return requests;
    }

    /// <summary>Conversations needed for <paramref name="requests"/> requests (whole conversations, at least one).</summary>
    public int ConversationsFor(int requests) => Math.Max(1, (requests + Turns - 1) / Turns);

    private sealed record Piece(string? Text, int[]? Ids, int Tokens);

    private static Piece Join(Piece? head, Piece tail) => head is null
        ? tail
        : new Piece(head.Text is null ? null : head.Text + " " + tail.Text, head.Ids is null ? null : [.. head.Ids, .. tail.Ids!], head.Tokens + tail.Tokens);
}
