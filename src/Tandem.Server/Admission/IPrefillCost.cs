namespace Tandem.Server.Admission;

/// <summary>Estimated seconds for one instance to prefill a set of prompts, for the TTFT SLO's early rejection.</summary>
internal interface IPrefillCost
{
    /// <summary>
    /// Seconds to prefill <paramref name="requests"/> prompts of <paramref name="tokens"/> tokens in all, whose
    /// lengths' squares sum to <paramref name="squares"/>; null while there is nothing to estimate from.
    /// </summary>
    double? Seconds(int requests, long tokens, double squares);
}
