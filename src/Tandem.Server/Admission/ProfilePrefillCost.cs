using Tandem.Planning.Profiles;

namespace Tandem.Server.Admission;

/// <summary>
/// Prefill time from the planner's fitted profile (DistServe's model, A + B·l + C·l² per prompt of l tokens), each
/// prompt counted as its own step: batching makes the real time shorter, so the estimate errs toward refusing.
/// </summary>
internal sealed class ProfilePrefillCost(ConfigLatency profile) : IPrefillCost
{
    public double? Seconds(int requests, long tokens, double squares)
    {
        var c = profile.Prefill;
        return requests * c.A + c.B * tokens + c.C * squares;
    }
}
