using Tandem.Planning.Profiles;

namespace Tandem.Planning.Tests;

/// <summary>Small hand-written profiles whose step times a test can reason about.</summary>
internal static class SyntheticProfiles
{
    /// <summary>Prefill takes <paramref name="prefillSeconds"/> whatever the batch; decode <paramref name="decodeSeconds"/> per step.</summary>
    public static LatencyProfile Constant(double prefillSeconds, double decodeSeconds = 0.01, long kvBytesPerToken = 1024) => new()
    {
        Model = "synthetic",
        KvBytesPerToken = kvBytesPerToken,
        Configs =
        [
            new ConfigLatency
            {
                Tp = 1,
                Prefill = new StepCoefficients(prefillSeconds, 0, 0),
                Decode = [new DecodePiece(null, new StepCoefficients(decodeSeconds, 0, 0))],
            },
        ],
    };

    /// <summary>A CPU-like profile: prefill and decode grow with the work, in the range measured on this machine.</summary>
    public static LatencyProfile Linear(long kvBytesPerToken = 46080) => new()
    {
        Model = "synthetic-linear",
        KvBytesPerToken = kvBytesPerToken,
        Configs =
        [
            new ConfigLatency
            {
                Tp = 1,
                Prefill = new StepCoefficients(0.02, 0.007, 1e-6),
                Decode = [new DecodePiece(null, new StepCoefficients(0.015, 2e-6, 0.002))],
            },
            new ConfigLatency
            {
                Tp = 2,
                Prefill = new StepCoefficients(0.015, 0.004, 6e-7),
                Decode = [new DecodePiece(null, new StepCoefficients(0.010, 1.2e-6, 0.0013))],
            },
        ],
    };
}
