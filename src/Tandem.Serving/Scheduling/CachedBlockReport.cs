namespace Tandem.Serving.Scheduling;

/// <summary>
/// What a <see cref="CachedBlockDirectory"/> tells a copy of it elsewhere (a cluster frontend's view of a worker), as
/// Dynamo's KV events do: either the whole set (<see cref="Full"/>) or, since the position the copy gave, the hashes that
/// entered and those that left. <see cref="Epoch"/> and <see cref="Sequence"/> are the position after it: the copy sends
/// them back to get only what changed next.
/// </summary>
public sealed record CachedBlockReport(ulong Epoch, long Sequence, bool Full, UInt128[] Stored, UInt128[] Removed)
{
    /// <summary>The position of a copy that has nothing yet: its first report is the whole set.</summary>
    public const ulong NoEpoch = 0;
}
