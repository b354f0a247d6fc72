namespace Tandem.Serving;

/// <summary>
/// A request's lifetime events, in seconds on one monotonic clock (the runtime's TimeProvider), so latency
/// can be split into queueing, prefill, transfer and decode. Unset events are null (e.g. no transfer in
/// colocated mode).
/// </summary>
public sealed class RequestTimeline
{
    public double Arrival { get; set; }
    public double? PrefillQueued { get; set; }
    public double? PrefillStart { get; set; }
    public double? PrefillEnd { get; set; }
    public double? TransferStart { get; set; }
    public double? TransferEnd { get; set; }
    public double? DecodeStart { get; set; }
    /// <summary>Time of each generated token (the first comes out of prefill).</summary>
    public List<double> TokenTimes { get; } = [];
    public double? End { get; set; }

    public double? Ttft => TokenTimes.Count > 0 ? TokenTimes[0] - Arrival : null;
    /// <summary>(last − first token time) / (tokens − 1), as the mission doc defines TPOT.</summary>
    public double? Tpot => TokenTimes.Count > 1 ? (TokenTimes[^1] - TokenTimes[0]) / (TokenTimes.Count - 1) : null;
}
