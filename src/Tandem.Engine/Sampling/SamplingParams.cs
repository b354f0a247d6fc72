namespace Tandem.Engine.Sampling;

/// <summary>
/// How the next token is chosen from the model's logits. Defaults are those of llama.cpp and the OpenAI API:
/// every filter off, plain sampling from the softmax at temperature 1. Values are checked when set, so an
/// invalid request fails with an <see cref="ArgumentException"/> that names the parameter and its allowed range.
/// </summary>
public sealed record SamplingParams
{
    /// <summary>The most alternatives <see cref="LogProbs"/> may ask for (the OpenAI API's <c>top_logprobs</c> limit).</summary>
    public const int MaxLogProbs = 20;

    /// <summary>Plain sampling with every filter off.</summary>
    public static SamplingParams Default { get; } = new();

    /// <summary>Always the most likely token (after penalties).</summary>
    public static SamplingParams Greedy { get; } = new() { Temperature = 0f };

    private readonly float _temperature = 1f;
    private readonly int _topK;
    private readonly float _topP = 1f;
    private readonly float _minP;
    private readonly float _repetitionPenalty = 1f;
    private readonly int _penaltyLastN = 64;
    private readonly float _presencePenalty;
    private readonly float _frequencyPenalty;
    private readonly int _logProbs;

    /// <summary>
    /// Divides the logits before the final softmax; any finite value. 0 or below means greedy (argmax), as in
    /// llama.cpp, where a non-positive temperature keeps only the most likely token.
    /// </summary>
    public float Temperature
    {
        get => _temperature;
        init => _temperature = RequireFinite(value, nameof(Temperature), "any finite value (0 or below = greedy)");
    }

    /// <summary>Keeps only the K most likely tokens; 0 = off. Range: 0 or more.</summary>
    public int TopK
    {
        get => _topK;
        init => _topK = value >= 0 ? value
            : throw Invalid(nameof(TopK), value, "0 (off) or more");
    }

    /// <summary>Keeps the smallest set of most likely tokens whose probabilities sum to at least P; 1 = off. Range: [0, 1].</summary>
    public float TopP
    {
        get => _topP;
        init => _topP = value is >= 0f and <= 1f ? value
            : throw Invalid(nameof(TopP), value, "[0, 1] (1 = off)");
    }

    /// <summary>Drops tokens whose probability is below P times that of the most likely token; 0 = off. Range: [0, 1].</summary>
    public float MinP
    {
        get => _minP;
        init => _minP = value is >= 0f and <= 1f ? value
            : throw Invalid(nameof(MinP), value, "[0, 1] (0 = off)");
    }

    /// <summary>
    /// llama.cpp's repetition penalty: a token seen in the last <see cref="PenaltyLastN"/> tokens has a positive
    /// logit divided by it and a non-positive logit multiplied by it; 1 = off. Range: greater than 0, finite.
    /// </summary>
    public float RepetitionPenalty
    {
        get => _repetitionPenalty;
        init => _repetitionPenalty = float.IsFinite(value) && value > 0f ? value
            : throw Invalid(nameof(RepetitionPenalty), value, "greater than 0 and finite (1 = off)");
    }

    /// <summary>How many of the most recent tokens the penalties look at; 0 = penalties off, -1 = all given tokens.</summary>
    public int PenaltyLastN
    {
        get => _penaltyLastN;
        init => _penaltyLastN = value >= -1 ? value
            : throw Invalid(nameof(PenaltyLastN), value, "-1 (all tokens), 0 (off) or more");
    }

    /// <summary>OpenAI's presence penalty, subtracted once from the logit of every token seen in the window. Range: [-2, 2].</summary>
    public float PresencePenalty
    {
        get => _presencePenalty;
        init => _presencePenalty = value is >= -2f and <= 2f ? value
            : throw Invalid(nameof(PresencePenalty), value, "[-2, 2] (0 = off)");
    }

    /// <summary>OpenAI's frequency penalty, subtracted from a token's logit once per occurrence in the window. Range: [-2, 2].</summary>
    public float FrequencyPenalty
    {
        get => _frequencyPenalty;
        init => _frequencyPenalty = value is >= -2f and <= 2f ? value
            : throw Invalid(nameof(FrequencyPenalty), value, "[-2, 2] (0 = off)");
    }

    /// <summary>Seed of the random draws; the same seed gives the same tokens. Null = a fresh random seed per sampler.</summary>
    public ulong? Seed { get; init; }

    /// <summary>How many most likely alternatives to report with their log-probabilities; 0 = off. Range: [0, <see cref="MaxLogProbs"/>].</summary>
    public int LogProbs
    {
        get => _logProbs;
        init => _logProbs = value is >= 0 and <= MaxLogProbs ? value
            : throw Invalid(nameof(LogProbs), value, $"[0, {MaxLogProbs}] (0 = off)");
    }

    /// <summary>
    /// The OpenAI API's <c>logit_bias</c>: added to a token's logit before every other stage (llama.cpp's order), so
    /// -100 all but bans a token and 100 all but forces it. Null or empty: off. Values must be finite; token ids are
    /// checked against the vocabulary when a <see cref="Sampler"/> is made.
    /// </summary>
    public IReadOnlyDictionary<int, float>? LogitBias
    {
        get => _logitBias;
        init
        {
            foreach (var (token, bias) in value ?? new Dictionary<int, float>())
            {
                if (!float.IsFinite(bias))
                    throw Invalid(nameof(LogitBias), bias, $"finite for every token (token {token})");
            }
            _logitBias = value is { Count: > 0 } ? value : null;
        }
    }

    private readonly IReadOnlyDictionary<int, float>? _logitBias;

    /// <summary>True when sampling always takes the most likely token.</summary>
    public bool IsGreedy => Temperature <= 0f;

    /// <summary>True when any of the three penalties changes logits.</summary>
    public bool HasPenalties =>
        PenaltyLastN != 0 && (RepetitionPenalty != 1f || PresencePenalty != 0f || FrequencyPenalty != 0f);

    private static float RequireFinite(float value, string name, string range) =>
        float.IsFinite(value) ? value : throw Invalid(name, value, range);

    private static ArgumentException Invalid<T>(string name, T value, string range) =>
        new ArgumentOutOfRangeException(name, $"{name} must be {range}; got {value}.");
}
