using Tandem.Engine.Sampling;

namespace Tandem.Engine.Tests.Sampling;

public class SamplingParamsTests
{
    [Fact]
    public void Defaults_AreLlamaCppAndOpenAiDefaults()
    {
        var p = new SamplingParams();
        Assert.Equal(1f, p.Temperature);
        Assert.Equal(0, p.TopK);
        Assert.Equal(1f, p.TopP);
        Assert.Equal(0f, p.MinP);
        Assert.Equal(1f, p.RepetitionPenalty);
        Assert.Equal(64, p.PenaltyLastN);
        Assert.Equal(0f, p.PresencePenalty);
        Assert.Equal(0f, p.FrequencyPenalty);
        Assert.Null(p.Seed);
        Assert.Equal(0, p.LogProbs);
        Assert.False(p.IsGreedy);
        Assert.False(p.HasPenalties);
        Assert.True(SamplingParams.Greedy.IsGreedy);
    }

    public static TheoryData<string, Func<SamplingParams>> InvalidSettings => new()
    {
        { "Temperature", () => new SamplingParams { Temperature = float.NaN } },
        { "Temperature", () => new SamplingParams { Temperature = float.PositiveInfinity } },
        { "TopK", () => new SamplingParams { TopK = -1 } },
        { "TopP", () => new SamplingParams { TopP = -0.01f } },
        { "TopP", () => new SamplingParams { TopP = 1.01f } },
        { "TopP", () => new SamplingParams { TopP = float.NaN } },
        { "MinP", () => new SamplingParams { MinP = -0.5f } },
        { "MinP", () => new SamplingParams { MinP = 2f } },
        { "RepetitionPenalty", () => new SamplingParams { RepetitionPenalty = 0f } },
        { "RepetitionPenalty", () => new SamplingParams { RepetitionPenalty = -1f } },
        { "RepetitionPenalty", () => new SamplingParams { RepetitionPenalty = float.PositiveInfinity } },
        { "PenaltyLastN", () => new SamplingParams { PenaltyLastN = -2 } },
        { "PresencePenalty", () => new SamplingParams { PresencePenalty = 2.5f } },
        { "PresencePenalty", () => new SamplingParams { PresencePenalty = float.NaN } },
        { "FrequencyPenalty", () => new SamplingParams { FrequencyPenalty = -3f } },
        { "LogProbs", () => new SamplingParams { LogProbs = -1 } },
        { "LogProbs", () => new SamplingParams { LogProbs = SamplingParams.MaxLogProbs + 1 } },
        { "TopK", () => SamplingParams.Default with { TopK = -5 } },
    };

    [Theory]
    [MemberData(nameof(InvalidSettings))]
    public void InvalidValue_ThrowsNamingParameterAndRange(string name, Func<SamplingParams> create)
    {
        var error = Assert.ThrowsAny<ArgumentException>(create);
        Assert.Equal(name, error.ParamName);
        Assert.StartsWith($"{name} must be ", error.Message);
        Assert.Contains("got ", error.Message);
    }

    [Fact]
    public void BoundaryValues_AreAccepted()
    {
        var p = new SamplingParams
        {
            Temperature = -1f, TopK = 0, TopP = 0f, MinP = 1f, RepetitionPenalty = 0.5f, PenaltyLastN = -1,
            PresencePenalty = -2f, FrequencyPenalty = 2f, LogProbs = SamplingParams.MaxLogProbs, Seed = ulong.MaxValue,
        };
        Assert.True(p.IsGreedy);
        Assert.True(p.HasPenalties);
        Assert.False((p with { PenaltyLastN = 0 }).HasPenalties);
    }
}
