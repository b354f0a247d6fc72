namespace Tandem.Engine.Tests.Agreement;

/// <summary>How far our logits are from llama.cpp's: the largest absolute difference relative to the largest logit magnitude.</summary>
public static class LogitsComparison
{
    public static double RelativeError(ReadOnlySpan<float> ours, ReadOnlySpan<float> reference)
    {
        Assert.Equal(reference.Length, ours.Length);
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < ours.Length; i++)
        {
            Assert.True(float.IsFinite(ours[i]), $"logit {i} is {ours[i]}");
            maxDiff = Math.Max(maxDiff, Math.Abs((double)ours[i] - reference[i]));
            maxRef = Math.Max(maxRef, Math.Abs((double)reference[i]));
        }
        return maxDiff / Math.Max(maxRef, 1e-30);
    }
}
